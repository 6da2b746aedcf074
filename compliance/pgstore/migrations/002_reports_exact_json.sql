-- +goose Up
-- Report history keeps the report byte for byte as WriteJSON wrote it:
-- jsonb would reorder keys and drop whitespace, so what an auditor reads back
-- (or hashes) would not be what the matrix wrote. json keeps the text.
ALTER TABLE compliance_reports ALTER COLUMN body TYPE json USING body::json;

-- +goose Down
ALTER TABLE compliance_reports ALTER COLUMN body TYPE jsonb USING body::jsonb;
