package store

import "github.com/pressly/goose/v3/lock"

// newPGLocker serialises concurrent migrations of one PostgreSQL database.
func newPGLocker() (lock.SessionLocker, error) {
	return lock.NewPostgresSessionLocker()
}
