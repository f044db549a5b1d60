-- +goose Up
-- Settled tickets and attachments (issue 11 item 7), as subjects (00170,
-- 00210) and agent days (00171) are settled: a ticket or attachment past
-- its retention period that the policies keep on its own facts (an open
-- transaction dispute, an open ticket), under no legal hold, is not read
-- and decided again every night. At 3 M tickets these were 4,100 tickets
-- and their messages, re-read, re-decided and re-counted by the safety
-- valve on every run.
--
-- A ticket's decision rests on its user, status, dispute, creation and
-- closure, and on the legal holds on it or its subject; an attachment's on
-- its ticket, upload time, and its ticket's user, status, dispute and
-- closure, and the same holds. Any change to these clears the memo in the
-- changing transaction (triggers below); the memo is keyed by the policy
-- revision, and re-checked at the time the policies give (retention/settle.go).
ALTER TABLE tickets ADD COLUMN retention_settled BIGINT;
ALTER TABLE tickets ADD COLUMN retention_recheck_at BIGINT;
ALTER TABLE attachments ADD COLUMN retention_settled BIGINT;
ALTER TABLE attachments ADD COLUMN retention_recheck_at BIGINT;

-- What a settled record was kept by (the policies' rule id, and whether the
-- rule counts as a hold): a run reports the records it skips under their
-- rule, as if it had decided them again (adversarial pass 6, F5: the
-- nightly report's "kept by hold" fell to 0 once disputes were settled).
-- Meaningful only while retention_settled is set.
ALTER TABLE subjects ADD COLUMN retention_settled_rule TEXT;
ALTER TABLE subjects ADD COLUMN retention_settled_held BOOLEAN;
ALTER TABLE tickets ADD COLUMN retention_settled_rule TEXT;
ALTER TABLE tickets ADD COLUMN retention_settled_held BOOLEAN;
ALTER TABLE attachments ADD COLUMN retention_settled_rule TEXT;
ALTER TABLE attachments ADD COLUMN retention_settled_held BOOLEAN;
ALTER TABLE agent_stats ADD COLUMN retention_settled_rule TEXT;
ALTER TABLE agent_stats ADD COLUMN retention_settled_held BOOLEAN;
-- Records settled before this migration carry no rule: they are decided
-- again (and settled with it) by the next run, once.
UPDATE subjects SET retention_settled = NULL, retention_recheck_at = NULL WHERE retention_settled IS NOT NULL;
UPDATE agent_stats SET retention_settled = NULL, retention_recheck_at = NULL WHERE retention_settled IS NOT NULL;

-- The candidates are read through the unsettled rows' index only, one
-- UNION ALL arm per case as for subjects (store.unsettledKeys): the closure
-- indexes these replace were read over every ticket kept past its period.
-- The indexes hold the key, so that the planner reads them index-only: a
-- row settled, or deleted, leaves its old entry in the index until VACUUM
-- (autovacuum waits for a fifth of the table to change), and a bitmap scan
-- visited the heap for each such entry every night; an index scan marks
-- the entries it finds dead, once, and skips them afterwards. The subjects'
-- index of 00210 is rebuilt the same way.
CREATE INDEX tickets_retention_unsettled ON tickets (closed_at) INCLUDE (ticket_id) WHERE retention_settled IS NULL;
CREATE INDEX tickets_retention_settled ON tickets (retention_settled, retention_recheck_at)
    INCLUDE (ticket_id, closed_at, retention_settled_rule, retention_settled_held) WHERE retention_settled IS NOT NULL;
DROP INDEX tickets_closed_at;
CREATE INDEX attachments_retention_unsettled ON attachments (ticket_closed_at) INCLUDE (attachment_id) WHERE retention_settled IS NULL;
CREATE INDEX attachments_retention_settled ON attachments (retention_settled, retention_recheck_at)
    INCLUDE (attachment_id, ticket_closed_at, retention_settled_rule, retention_settled_held) WHERE retention_settled IS NOT NULL;
DROP INDEX attachments_ticket_closed_at;
DROP INDEX subjects_retention_unsettled;
CREATE INDEX subjects_retention_unsettled ON subjects (account_closed_at) INCLUDE (user_id) WHERE retention_settled IS NULL;
DROP INDEX subjects_retention_settled;
CREATE INDEX subjects_retention_settled ON subjects (retention_settled, retention_recheck_at)
    INCLUDE (user_id, account_closed_at, retention_settled_rule, retention_settled_held) WHERE retention_settled IS NOT NULL;
-- The settled records kept by a hold (an open dispute), which a run still
-- reports as kept by hold (store.SettledCounts): few, read through their
-- own index whatever the number of settled records.
CREATE INDEX subjects_retention_held ON subjects (retention_settled, retention_recheck_at)
    INCLUDE (account_closed_at, retention_settled_rule) WHERE retention_settled IS NOT NULL AND retention_settled_held;
CREATE INDEX tickets_retention_held ON tickets (retention_settled, retention_recheck_at)
    INCLUDE (closed_at, retention_settled_rule) WHERE retention_settled IS NOT NULL AND retention_settled_held;
CREATE INDEX attachments_retention_held ON attachments (retention_settled, retention_recheck_at)
    INCLUDE (ticket_closed_at, retention_settled_rule) WHERE retention_settled IS NOT NULL AND retention_settled_held;
-- Statistics on the new columns (all empty): without them the planner
-- guesses a third of the table for "settled under another revision" and
-- plans a parallel scan for what reads nothing.
ANALYZE tickets;
ANALYZE attachments;

-- A ticket's own facts changed: its memo goes, and its attachments' (they
-- rest on the ticket's status, dispute, closure and user).
-- +goose StatementBegin
CREATE FUNCTION retention_settled_tickets_own() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.retention_settled := NULL;
    NEW.retention_recheck_at := NULL;
    RETURN NEW;
END $$;
-- +goose StatementEnd
CREATE TRIGGER retention_settled_tickets_own BEFORE UPDATE ON tickets
    FOR EACH ROW WHEN (OLD.retention_settled IS NOT NULL AND (NEW.user_id IS DISTINCT FROM OLD.user_id
        OR NEW.status IS DISTINCT FROM OLD.status OR NEW.dispute_status IS DISTINCT FROM OLD.dispute_status
        OR NEW.created_at IS DISTINCT FROM OLD.created_at OR NEW.closed_at IS DISTINCT FROM OLD.closed_at
        OR NEW.ticket_id IS DISTINCT FROM OLD.ticket_id))
    EXECUTE FUNCTION retention_settled_tickets_own();

-- +goose StatementBegin
CREATE FUNCTION retention_settled_ticket_attachments() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE ids text[];
BEGIN
    ids := ARRAY(SELECT o.ticket_id FROM old_rows o JOIN new_rows n ON n.ticket_id = o.ticket_id
        WHERE n.user_id IS DISTINCT FROM o.user_id OR n.status IS DISTINCT FROM o.status
           OR n.dispute_status IS DISTINCT FROM o.dispute_status OR n.closed_at IS DISTINCT FROM o.closed_at);
    IF cardinality(ids) > 0 THEN
        UPDATE attachments SET retention_settled = NULL, retention_recheck_at = NULL
        WHERE ticket_id = ANY (ids) AND (retention_settled + 0) IS NOT NULL;
    END IF;
    RETURN NULL;
END $$;
-- +goose StatementEnd
CREATE TRIGGER retention_settled_ticket_attachments AFTER UPDATE ON tickets
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION retention_settled_ticket_attachments();

-- An attachment's own facts changed (its ticket, its upload, the copy of
-- its ticket's closure).
-- +goose StatementBegin
CREATE FUNCTION retention_settled_attachments_own() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.retention_settled := NULL;
    NEW.retention_recheck_at := NULL;
    RETURN NEW;
END $$;
-- +goose StatementEnd
CREATE TRIGGER retention_settled_attachments_own BEFORE UPDATE ON attachments
    FOR EACH ROW WHEN (OLD.retention_settled IS NOT NULL AND (NEW.ticket_id IS DISTINCT FROM OLD.ticket_id
        OR NEW.uploaded_at IS DISTINCT FROM OLD.uploaded_at OR NEW.ticket_closed_at IS DISTINCT FROM OLD.ticket_closed_at
        OR NEW.attachment_id IS DISTINCT FROM OLD.attachment_id))
    EXECUTE FUNCTION retention_settled_attachments_own();

-- The subjects' memo (00170, 00210) is cleared by a ticket update only when
-- what a subject's decision rests on changed (the ticket's user, status,
-- dispute or closure): settling a ticket, or re-ingesting it unchanged, no
-- longer sends its subject back to be decided.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION retention_unsettle() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE ids text[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        ids := ARRAY(SELECT DISTINCT user_id FROM new_rows WHERE user_id IS NOT NULL);
    ELSIF TG_OP = 'DELETE' THEN
        ids := ARRAY(SELECT DISTINCT user_id FROM old_rows WHERE user_id IS NOT NULL);
    ELSIF TG_TABLE_NAME = 'tickets' THEN
        ids := ARRAY(SELECT DISTINCT u FROM old_rows o FULL JOIN new_rows n ON n.ticket_id = o.ticket_id,
                LATERAL (VALUES (o.user_id), (n.user_id)) v(u)
            WHERE u IS NOT NULL AND (o.ticket_id IS NULL OR n.ticket_id IS NULL
               OR n.user_id IS DISTINCT FROM o.user_id OR n.status IS DISTINCT FROM o.status
               OR n.dispute_status IS DISTINCT FROM o.dispute_status OR n.closed_at IS DISTINCT FROM o.closed_at));
    ELSE
        ids := ARRAY(SELECT user_id FROM old_rows WHERE user_id IS NOT NULL UNION SELECT user_id FROM new_rows WHERE user_id IS NOT NULL);
    END IF;
    IF cardinality(ids) > 0 THEN
        UPDATE subjects SET retention_settled = NULL, retention_recheck_at = NULL
        WHERE user_id = ANY (ids) AND (retention_settled + 0) IS NOT NULL;
    END IF;
    RETURN NULL;
END $$;
-- +goose StatementEnd

-- Legal holds: a hold on a subject or on a ticket clears the memo of the
-- subject, of the tickets it covers and of their attachments.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION retention_unsettle_holds() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    users text[];
    tks text[];
BEGIN
    IF TG_OP = 'DELETE' THEN
        users := ARRAY[OLD.user_id, (SELECT t.user_id FROM tickets t WHERE t.ticket_id = OLD.ticket_id)];
        tks := ARRAY[OLD.ticket_id];
    ELSE
        users := ARRAY[NEW.user_id, (SELECT t.user_id FROM tickets t WHERE t.ticket_id = NEW.ticket_id)];
        tks := ARRAY[NEW.ticket_id];
        IF TG_OP = 'UPDATE' THEN
            users := users || ARRAY[OLD.user_id, (SELECT t.user_id FROM tickets t WHERE t.ticket_id = OLD.ticket_id)];
            tks := tks || ARRAY[OLD.ticket_id];
        END IF;
    END IF;
    UPDATE subjects SET retention_settled = NULL, retention_recheck_at = NULL
    WHERE user_id = ANY (users) AND (retention_settled + 0) IS NOT NULL;
    -- The tickets the hold covers: its own, or every ticket of its subject.
    tks := tks || ARRAY(SELECT t.ticket_id FROM tickets t WHERE t.user_id = ANY (ARRAY[OLD.user_id, NEW.user_id]) AND t.user_id IS NOT NULL);
    UPDATE tickets SET retention_settled = NULL, retention_recheck_at = NULL
    WHERE ticket_id = ANY (tks) AND (retention_settled + 0) IS NOT NULL;
    UPDATE attachments SET retention_settled = NULL, retention_recheck_at = NULL
    WHERE ticket_id = ANY (tks) AND (retention_settled + 0) IS NOT NULL;
    RETURN NULL;
END $$;
-- +goose StatementEnd

-- +goose Down
DROP INDEX attachments_retention_held;
DROP INDEX tickets_retention_held;
DROP INDEX subjects_retention_held;
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION retention_unsettle_holds() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE ids text[];
BEGIN
    IF TG_OP = 'DELETE' THEN
        ids := ARRAY[OLD.user_id, (SELECT t.user_id FROM tickets t WHERE t.ticket_id = OLD.ticket_id)];
    ELSE
        ids := ARRAY[NEW.user_id, (SELECT t.user_id FROM tickets t WHERE t.ticket_id = NEW.ticket_id)];
        IF TG_OP = 'UPDATE' THEN
            ids := ids || ARRAY[OLD.user_id, (SELECT t.user_id FROM tickets t WHERE t.ticket_id = OLD.ticket_id)];
        END IF;
    END IF;
    UPDATE subjects SET retention_settled = NULL, retention_recheck_at = NULL
    WHERE user_id = ANY (ids) AND (retention_settled + 0) IS NOT NULL;
    RETURN NULL;
END $$;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION retention_unsettle() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE ids text[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        ids := ARRAY(SELECT DISTINCT user_id FROM new_rows WHERE user_id IS NOT NULL);
    ELSIF TG_OP = 'DELETE' THEN
        ids := ARRAY(SELECT DISTINCT user_id FROM old_rows WHERE user_id IS NOT NULL);
    ELSE
        ids := ARRAY(SELECT user_id FROM old_rows WHERE user_id IS NOT NULL UNION SELECT user_id FROM new_rows WHERE user_id IS NOT NULL);
    END IF;
    UPDATE subjects SET retention_settled = NULL, retention_recheck_at = NULL
    WHERE user_id = ANY (ids) AND (retention_settled + 0) IS NOT NULL;
    RETURN NULL;
END $$;
-- +goose StatementEnd
DROP TRIGGER retention_settled_attachments_own ON attachments;
DROP FUNCTION retention_settled_attachments_own();
DROP TRIGGER retention_settled_ticket_attachments ON tickets;
DROP FUNCTION retention_settled_ticket_attachments();
DROP TRIGGER retention_settled_tickets_own ON tickets;
DROP FUNCTION retention_settled_tickets_own();
DROP INDEX subjects_retention_settled;
CREATE INDEX subjects_retention_settled ON subjects (retention_settled, retention_recheck_at) WHERE retention_settled IS NOT NULL;
DROP INDEX subjects_retention_unsettled;
CREATE INDEX subjects_retention_unsettled ON subjects (account_closed_at) WHERE retention_settled IS NULL;
CREATE INDEX attachments_ticket_closed_at ON attachments (ticket_closed_at);
DROP INDEX attachments_retention_settled;
DROP INDEX attachments_retention_unsettled;
CREATE INDEX tickets_closed_at ON tickets (closed_at);
DROP INDEX tickets_retention_settled;
DROP INDEX tickets_retention_unsettled;
ALTER TABLE agent_stats DROP COLUMN retention_settled_held;
ALTER TABLE agent_stats DROP COLUMN retention_settled_rule;
ALTER TABLE attachments DROP COLUMN retention_settled_held;
ALTER TABLE attachments DROP COLUMN retention_settled_rule;
ALTER TABLE tickets DROP COLUMN retention_settled_held;
ALTER TABLE tickets DROP COLUMN retention_settled_rule;
ALTER TABLE subjects DROP COLUMN retention_settled_held;
ALTER TABLE subjects DROP COLUMN retention_settled_rule;
ALTER TABLE attachments DROP COLUMN retention_recheck_at;
ALTER TABLE attachments DROP COLUMN retention_settled;
ALTER TABLE tickets DROP COLUMN retention_recheck_at;
ALTER TABLE tickets DROP COLUMN retention_settled;
