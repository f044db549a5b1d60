package store

import (
	"errors"
	"testing"
)

// TestMigrateMissingExtension: a server without pg_trgm (the migration's
// own check names postgresql-contrib) is bad input (exit 2), not a failure.
func TestMigrateMissingExtension(t *testing.T) {
	pgErr := errors.New(`ERROR 00121_residue_trigram_indexes.sql: failed to run SQL migration: pq: the PostgreSQL extension pg_trgm is not installed on the database server: install the package postgresql-contrib (or your distribution's package holding the contrib extensions) there, then run oubli migrate`)
	if err := migrateErr(pgErr); !errors.Is(err, ErrInvalid) {
		t.Errorf("missing pg_trgm: %v is not ErrInvalid", err)
	}
	if err := migrateErr(errors.New("connection refused")); errors.Is(err, ErrInvalid) {
		t.Errorf("another failure mapped to bad input: %v", err)
	}
}
