package cli

import "github.com/oubli/oubli/dsr"

// Register returns the data-subject request register over the store, with
// due dates from the active policies and the Env's clock.
func (e *Env) Register() (*dsr.Register, error) {
	db, err := e.Store()
	if err != nil {
		return nil, err
	}
	h, err := e.Hasher()
	if err != nil {
		return nil, err
	}
	eng, err := e.Engine()
	if err != nil {
		return nil, err
	}
	return &dsr.Register{DB: db, Policies: eng, Hasher: h, Now: e.Now, Ledger: e.ledgerPathOrEmpty()}, nil
}

// Exporter returns the access exporter: the register, the blob store and
// the policies' Art. 15(1) information.
func (e *Env) Exporter() (*dsr.Exporter, error) {
	reg, err := e.Register()
	if err != nil {
		return nil, err
	}
	bs, err := e.Blobs()
	if err != nil {
		return nil, err
	}
	eng, err := e.Engine()
	if err != nil {
		return nil, err
	}
	return &dsr.Exporter{Register: reg, Blobs: bs, Info: eng}, nil
}
