-- +goose Up
-- A subject named by e-mail address (erase, export, object, rectify,
-- erase --from, subjects find) is looked up by the address as typed, in its
-- normalised form, or case-insensitively (LOWER(email), for addresses
-- stored before ingest normalised them). Without an index on LOWER(email)
-- that OR read every subject: 7.4 s on a PostgreSQL store of 330,000
-- subjects under load. With it, each branch is one index probe.
CREATE INDEX subjects_email_lower ON subjects (LOWER(email));

-- +goose Down
DROP INDEX subjects_email_lower;
