-- +goose Up
CREATE TABLE widgets (id bigint PRIMARY KEY, name text NOT NULL);
-- +goose StatementBegin
CREATE FUNCTION widgets_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'widgets are immutable';
END $$;
-- +goose StatementEnd
-- +goose Down
DROP TABLE widgets;
