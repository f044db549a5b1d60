-- +goose Up
-- Why a request was closed as done although the register holds no action of
-- its type for it (`requests close --force --reason`): the action was taken
-- outside oubli, and the register says so instead of claiming it.
ALTER TABLE dsr_requests ADD COLUMN close_reason TEXT;

-- +goose Down
ALTER TABLE dsr_requests DROP COLUMN close_reason;
