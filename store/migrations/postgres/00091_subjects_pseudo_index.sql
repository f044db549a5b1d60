-- +goose Up
-- `oubli subjects find --pseudo P` looks subjects up by pseudo.
CREATE INDEX subjects_pseudo ON subjects (pseudo);

-- +goose Down
DROP INDEX subjects_pseudo;
