package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// AuditEntry is one record of the audit trail. It never holds personal data:
// SubjectRef is a keyed hash (Hasher.Hash) and Detail holds counts, rule ids,
// field names and keyed hashes only.
type AuditEntry struct {
	Seq        int64  `db:"seq" json:"seq"`
	At         int64  `db:"at" json:"at"` // Unix milliseconds
	Actor      string `db:"actor" json:"actor"`
	Action     string `db:"action" json:"action"`
	SubjectRef string `db:"subject_ref" json:"subject_ref,omitempty"`
	Outcome    string `db:"outcome" json:"outcome"`
	Detail     string `db:"detail" json:"detail"` // JSON object
	PrevHash   string `db:"prev_hash" json:"prev_hash"`
	Hash       string `db:"hash" json:"hash"`
}

// AuditRecord is what a caller appends.
type AuditRecord struct {
	At         time.Time      // zero means now
	Actor      string         // who: "cli", "scheduler", …; the context's actor (WithActor) wins
	Action     string         // what: "ingest", "retention.run", "dsr.erase", …
	SubjectRef string         // keyed hash of the subject, or ""
	Outcome    string         // "ok", "refused", "failed", "dry-run", …
	Detail     map[string]any // no personal data
}

// auditLockKey serialises appends on PostgreSQL (pg_advisory_xact_lock).
const auditLockKey = 0x0AB1_A0D1

// ErrAuditBroken is returned by VerifyAudit when the chain does not hold.
var ErrAuditBroken = errors.New("audit chain broken")

// AppendAudit appends an entry to the audit trail inside tx and returns its
// sequence number. Appends are serialised so the chain never forks.
func AppendAudit(ctx context.Context, tx *Tx, r AuditRecord) (int64, error) {
	if tx.dialect == Postgres {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(?)", auditLockKey); err != nil {
			return 0, fmt.Errorf("audit lock: %w", err)
		}
	}
	at := r.At
	if at.IsZero() {
		at = time.Now()
	}
	detail := "{}"
	if len(r.Detail) > 0 {
		b, err := json.Marshal(r.Detail)
		if err != nil {
			return 0, fmt.Errorf("audit detail: %w", err)
		}
		detail = string(b)
	}
	var last struct {
		Seq  int64  `db:"seq"`
		Hash string `db:"hash"`
	}
	err := tx.Get(ctx, &last, "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
	if errors.Is(err, ErrNotFound) {
		// Empty log: continue from the anchor if old entries were pruned.
		err = tx.Get(ctx, &last, "SELECT seq, hash FROM audit_anchor WHERE id = 1")
		if errors.Is(err, ErrNotFound) {
			err = nil
		}
	}
	if err != nil {
		return 0, fmt.Errorf("audit tail: %w", err)
	}
	actor := r.Actor
	if a := ActorFrom(ctx); a != "" {
		actor = a
	}
	e := AuditEntry{
		Seq: last.Seq + 1, At: at.UnixMilli(), Actor: actor, Action: r.Action,
		SubjectRef: r.SubjectRef, Outcome: r.Outcome, Detail: detail, PrevHash: last.Hash,
	}
	e.Hash = e.ComputeHash()
	_, err = tx.Exec(ctx, `INSERT INTO audit_log (seq, at, actor, action, subject_ref, outcome, detail, prev_hash, hash)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.Seq, e.At, e.Actor, e.Action, e.SubjectRef, e.Outcome, e.Detail, e.PrevHash, e.Hash)
	if err != nil {
		return 0, fmt.Errorf("append audit entry: %w", err)
	}
	return e.Seq, nil
}

// ComputeHash returns the SHA-256 over the entry's fields and its
// predecessor's hash, hex-encoded.
func (e AuditEntry) ComputeHash() string {
	h := sha256.New()
	for _, f := range []string{
		e.PrevHash, strconv.FormatInt(e.Seq, 10), strconv.FormatInt(e.At, 10),
		e.Actor, e.Action, e.SubjectRef, e.Outcome, e.Detail,
	} {
		h.Write([]byte(strconv.Itoa(len(f))))
		h.Write([]byte{':'})
		h.Write([]byte(f))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// AuditFilter narrows ListAudit.
type AuditFilter struct {
	AfterSeq   int64 // entries with seq > AfterSeq
	Action     string
	SubjectRef string
	Actor      string
	Limit      int // 0: no limit
}

// ListAudit calls fn for each entry in sequence order, streaming.
func (db *DB) ListAudit(ctx context.Context, f AuditFilter, fn func(AuditEntry) error) error {
	q := "SELECT seq, at, actor, action, subject_ref, outcome, detail, prev_hash, hash FROM audit_log WHERE seq > ?"
	args := []any{f.AfterSeq}
	if f.Action != "" {
		q += " AND action = ?"
		args = append(args, f.Action)
	}
	if f.SubjectRef != "" {
		q += " AND subject_ref = ?"
		args = append(args, f.SubjectRef)
	}
	if f.Actor != "" {
		q += " AND actor = ?"
		args = append(args, f.Actor)
	}
	q += " ORDER BY seq"
	if f.Limit > 0 {
		q += " LIMIT " + strconv.Itoa(f.Limit)
	}
	rows, err := db.Query(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var e AuditEntry
		if err := rows.StructScan(&e); err != nil {
			return err
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	return rows.Err()
}

// AuditVerification is the result of VerifyAudit.
type AuditVerification struct {
	Entries   int64  `json:"entries"`
	FirstSeq  int64  `json:"first_seq"`
	LastSeq   int64  `json:"last_seq"`
	BrokenSeq int64  `json:"broken_seq,omitempty"` // first entry that does not verify
	Reason    string `json:"reason,omitempty"`
}

// VerifyAudit recomputes the chain. It returns ErrAuditBroken (wrapped, with
// the first broken entry named) when any entry was edited, removed or
// inserted out of order.
func (db *DB) VerifyAudit(ctx context.Context) (AuditVerification, error) {
	var v AuditVerification
	var anchor struct {
		Seq  int64  `db:"seq"`
		Hash string `db:"hash"`
	}
	if err := db.Get(ctx, &anchor, "SELECT seq, hash FROM audit_anchor WHERE id = 1"); err != nil && !errors.Is(err, ErrNotFound) {
		return v, err
	}
	prevSeq, prevHash := anchor.Seq, anchor.Hash
	err := db.ListAudit(ctx, AuditFilter{}, func(e AuditEntry) error {
		if v.Entries == 0 {
			v.FirstSeq = e.Seq
		}
		v.Entries++
		v.LastSeq = e.Seq
		switch {
		case e.Seq != prevSeq+1:
			v.BrokenSeq, v.Reason = e.Seq, fmt.Sprintf("entry %d follows entry %d: entries are missing", e.Seq, prevSeq)
		case e.PrevHash != prevHash:
			v.BrokenSeq, v.Reason = e.Seq, fmt.Sprintf("entry %d does not link to the hash of entry %d", e.Seq, prevSeq)
		case e.ComputeHash() != e.Hash:
			v.BrokenSeq, v.Reason = e.Seq, fmt.Sprintf("entry %d was modified: its content does not match its hash", e.Seq)
		}
		if v.BrokenSeq != 0 {
			return ErrAuditBroken
		}
		prevSeq, prevHash = e.Seq, e.Hash
		return nil
	})
	if errors.Is(err, ErrAuditBroken) {
		return v, fmt.Errorf("%w at entry %d: %s", ErrAuditBroken, v.BrokenSeq, v.Reason)
	}
	return v, err
}

// PruneAudit deletes the entries with seq <= upTo and records the last one
// removed as the anchor from which the chain is verified. It is used by
// retention for entries past their retention period.
func PruneAudit(ctx context.Context, tx *Tx, upTo int64) (int64, error) {
	var last AuditEntry
	if err := tx.Get(ctx, &last, "SELECT seq, hash FROM audit_log WHERE seq <= ? ORDER BY seq DESC LIMIT 1", upTo); err != nil {
		if errors.Is(err, ErrNotFound) {
			return 0, nil
		}
		return 0, err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO audit_anchor (id, seq, hash) VALUES (1, ?, ?)
		ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash`, last.Seq, last.Hash); err != nil {
		return 0, err
	}
	res, err := tx.Exec(ctx, "DELETE FROM audit_log WHERE seq <= ?", last.Seq)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
