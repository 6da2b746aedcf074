-- +goose Up
-- Each data subject request follows its jurisdiction's deadlines (GDPR, UK
-- GDPR, CCPA). Requests stored before this migration were received under the
-- GDPR.
ALTER TABLE privacy_requests
    ADD COLUMN jurisdiction text NOT NULL DEFAULT 'gdpr'
    CHECK (jurisdiction IN ('gdpr', 'uk-gdpr', 'ccpa'));

-- +goose Down
ALTER TABLE privacy_requests DROP COLUMN jurisdiction;
