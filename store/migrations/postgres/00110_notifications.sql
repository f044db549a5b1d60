-- +goose Up
-- The Art. 19 outbox: one row per recipient to tell of a rectification, an
-- erasure or an objection, written in the same transaction as the change.
-- payload is the JSON body sent (schema notify/schema/payload.v1.json); once
-- the notification is delivered or acknowledged it is emptied and only its
-- SHA-256 stays, so the outbox keeps no identifier longer than needed.
CREATE TABLE notifications (
    id               TEXT PRIMARY KEY,
    request_id       TEXT NOT NULL,
    recipient_id     TEXT NOT NULL,
    type             TEXT NOT NULL CHECK (type IN ('rectification', 'erasure', 'objection')),
    subject_ref      TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('queued', 'delivered', 'failed', 'gone', 'manual', 'acknowledged')),
    payload          TEXT NOT NULL,
    payload_sha256   TEXT NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    created_at       BIGINT NOT NULL,
    next_attempt_at  BIGINT NOT NULL,
    last_attempt_at  BIGINT,
    delivered_at     BIGINT,
    last_error       TEXT,
    ack_note         TEXT,
    ack_actor        TEXT,
    acked_at         BIGINT
);
CREATE INDEX notifications_due ON notifications (status, next_attempt_at);
CREATE INDEX notifications_request ON notifications (request_id);
CREATE INDEX notifications_subject ON notifications (subject_ref);

-- +goose Down
DROP TABLE notifications;
