-- +goose Up
-- All times are INTEGER Unix milliseconds, UTC. Booleans are 0/1.

-- Key/value settings: the generated HMAC secret, scheduler bookkeeping.
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- Data subjects: identification, contact and account data.
CREATE TABLE subjects (
    user_id            TEXT PRIMARY KEY,
    email              TEXT NOT NULL,
    pseudo             TEXT NOT NULL,
    account_created_at INTEGER,
    account_closed_at  INTEGER,
    restricted         BOOLEAN NOT NULL DEFAULT FALSE,
    anonymized_at      INTEGER,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL
);
CREATE INDEX subjects_email ON subjects (email);
CREATE INDEX subjects_account_closed_at ON subjects (account_closed_at);

-- Support tickets (the contact request itself).
CREATE TABLE tickets (
    ticket_id       TEXT PRIMARY KEY,
    user_id         TEXT REFERENCES subjects (user_id) ON DELETE RESTRICT,
    request_number  TEXT NOT NULL,
    subject         TEXT NOT NULL,
    description     TEXT NOT NULL,
    transaction_ref TEXT,
    dispute_status  TEXT NOT NULL DEFAULT 'none' CHECK (dispute_status IN ('none', 'open', 'resolved')),
    status          TEXT NOT NULL CHECK (status IN ('open', 'closed')),
    created_at      INTEGER NOT NULL,
    closed_at       INTEGER,
    restricted      BOOLEAN NOT NULL DEFAULT FALSE,
    anonymized_at   INTEGER
);
CREATE INDEX tickets_user_id ON tickets (user_id);
CREATE INDEX tickets_closed_at ON tickets (closed_at);
CREATE INDEX tickets_status ON tickets (status);

-- The exchange history with the agents.
CREATE TABLE messages (
    message_id TEXT PRIMARY KEY,
    ticket_id  TEXT NOT NULL REFERENCES tickets (ticket_id) ON DELETE CASCADE,
    author     TEXT NOT NULL CHECK (author IN ('user', 'agent')),
    agent_id   TEXT,
    body       TEXT NOT NULL,
    sent_at    INTEGER NOT NULL
);
CREATE INDEX messages_ticket_id ON messages (ticket_id);
CREATE INDEX messages_agent_id ON messages (agent_id);
CREATE INDEX messages_sent_at ON messages (sent_at);

-- Supporting documents: metadata here, contents in the blob store under blob_key.
CREATE TABLE attachments (
    attachment_id TEXT PRIMARY KEY,
    ticket_id     TEXT NOT NULL REFERENCES tickets (ticket_id) ON DELETE CASCADE,
    message_id    TEXT REFERENCES messages (message_id) ON DELETE CASCADE,
    filename      TEXT NOT NULL,
    content_type  TEXT NOT NULL,
    size          INTEGER NOT NULL,
    sha256        TEXT NOT NULL,
    blob_key      TEXT NOT NULL UNIQUE,
    uploaded_at   INTEGER NOT NULL
);
CREATE INDEX attachments_ticket_id ON attachments (ticket_id);
CREATE INDEX attachments_message_id ON attachments (message_id);
CREATE INDEX attachments_uploaded_at ON attachments (uploaded_at);

-- Durable queue of blob contents to remove once the rows' deletion has committed.
CREATE TABLE blob_deletions (
    blob_key  TEXT PRIMARY KEY,
    queued_at INTEGER NOT NULL,
    reason    TEXT NOT NULL
);

-- Account history.
CREATE TABLE account_events (
    event_id TEXT PRIMARY KEY,
    user_id  TEXT NOT NULL REFERENCES subjects (user_id) ON DELETE RESTRICT,
    type     TEXT NOT NULL,
    at       INTEGER NOT NULL,
    detail   TEXT NOT NULL DEFAULT ''
);
CREATE INDEX account_events_user_id ON account_events (user_id);
CREATE INDEX account_events_at ON account_events (at);

-- Derived: a subject's average response time to agent messages.
CREATE TABLE subject_stats (
    user_id               TEXT PRIMARY KEY REFERENCES subjects (user_id) ON DELETE RESTRICT,
    avg_response_seconds  DOUBLE PRECISION NOT NULL,
    responses_counted     INTEGER NOT NULL,
    computed_at           INTEGER NOT NULL
);
CREATE INDEX subject_stats_computed_at ON subject_stats (computed_at);

-- Derived: per-agent daily figures for the support team's evaluation.
-- agent_id is NULL once the row has been anonymised.
CREATE TABLE agent_stats (
    id                         INTEGER PRIMARY KEY AUTOINCREMENT,
    agent_id                   TEXT,
    day                        TEXT NOT NULL,
    tickets_handled            INTEGER NOT NULL,
    first_responses            INTEGER NOT NULL,
    avg_first_response_seconds DOUBLE PRECISION NOT NULL,
    computed_at                INTEGER NOT NULL,
    anonymized_at              INTEGER
);
CREATE INDEX agent_stats_agent_day ON agent_stats (agent_id, day);
CREATE INDEX agent_stats_computed_at ON agent_stats (computed_at);

-- The register of data-subject requests. user_id is cleared once the
-- subject is erased; subject_hash (keyed) stays.
CREATE TABLE dsr_requests (
    request_id        TEXT PRIMARY KEY,
    type              TEXT NOT NULL CHECK (type IN ('access', 'rectification', 'objection', 'erasure')),
    user_id           TEXT,
    subject_hash      TEXT NOT NULL,
    status            TEXT NOT NULL CHECK (status IN ('open', 'in_progress', 'done', 'refused')),
    received_at       INTEGER NOT NULL,
    due_at            INTEGER NOT NULL,
    extended          BOOLEAN NOT NULL DEFAULT FALSE,
    extension_reason  TEXT,
    refusal_reason    TEXT,
    closed_at         INTEGER,
    created_at        INTEGER NOT NULL
);
CREATE INDEX dsr_requests_user_id ON dsr_requests (user_id);
CREATE INDEX dsr_requests_subject_hash ON dsr_requests (subject_hash);
CREATE INDEX dsr_requests_status_due ON dsr_requests (status, due_at);
CREATE INDEX dsr_requests_closed_at ON dsr_requests (closed_at);

-- Actions taken for a request, each linked to its audit entry.
CREATE TABLE dsr_actions (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id TEXT NOT NULL REFERENCES dsr_requests (request_id) ON DELETE CASCADE,
    at         INTEGER NOT NULL,
    action     TEXT NOT NULL,
    outcome    TEXT NOT NULL,
    audit_seq  INTEGER
);
CREATE INDEX dsr_actions_request_id ON dsr_actions (request_id);

-- Legal holds on one ticket or on every ticket of a subject.
CREATE TABLE legal_holds (
    hold_id     TEXT PRIMARY KEY,
    ticket_id   TEXT,
    user_id     TEXT,
    reason      TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    until       INTEGER,
    released_at INTEGER,
    CHECK ((ticket_id IS NULL) <> (user_id IS NULL))
);
CREATE INDEX legal_holds_ticket_id ON legal_holds (ticket_id);
CREATE INDEX legal_holds_user_id ON legal_holds (user_id);

-- Objections (Art. 21) to a purpose.
CREATE TABLE objections (
    user_id    TEXT NOT NULL REFERENCES subjects (user_id) ON DELETE RESTRICT,
    purpose    TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    request_id TEXT,
    PRIMARY KEY (user_id, purpose)
);

-- The audit trail: append-only, hash-chained, keyed hashes only.
CREATE TABLE audit_log (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    at          INTEGER NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    subject_ref TEXT NOT NULL DEFAULT '',
    outcome     TEXT NOT NULL,
    detail      TEXT NOT NULL DEFAULT '{}',
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL
);
CREATE INDEX audit_log_at ON audit_log (at);

-- Where the chain starts once old entries have been pruned by retention.
CREATE TABLE audit_anchor (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  INTEGER NOT NULL,
    hash TEXT NOT NULL
);

-- +goose Down
DROP TABLE audit_anchor;
DROP TABLE audit_log;
DROP TABLE objections;
DROP TABLE legal_holds;
DROP TABLE dsr_actions;
DROP TABLE dsr_requests;
DROP TABLE agent_stats;
DROP TABLE subject_stats;
DROP TABLE account_events;
DROP TABLE blob_deletions;
DROP TABLE attachments;
DROP TABLE messages;
DROP TABLE tickets;
DROP TABLE subjects;
DROP TABLE settings;
