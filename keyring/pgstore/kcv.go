package pgstore

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/rampart-sdk/rampart/internal/pgq"
	"github.com/rampart-sdk/rampart/keyring"
)

// RecordKeyCheckValues implements Store.
func (s *store) RecordKeyCheckValues(ctx context.Context, d *keyring.Document) error {
	ids := make([]int64, 0, len(d.Keys))
	scopes := make([]string, 0, len(d.Keys))
	kcvs := make([]string, 0, len(d.Keys))
	for _, k := range d.Keys {
		v := k.CheckValue()
		if v == "" {
			return &keyring.ScopeError{Scope: k.Scope, KeyID: k.ID, Err: fmt.Errorf("%w: no key material to record a check value of", keyring.ErrInvalidDocument)}
		}
		ids, scopes, kcvs = append(ids, int64(k.ID)), append(scopes, k.Scope), append(kcvs, v)
	}
	if _, err := s.q.Exec(ctx, `INSERT INTO keyring_key_check_values (key_id, scope, kcv)
		SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[]) ON CONFLICT (key_id) DO NOTHING`, ids, scopes, kcvs); err != nil {
		return fmt.Errorf("keyring/pgstore: %w", err)
	}
	recorded, err := keyCheckValues(ctx, s.q)
	if err != nil {
		return err
	}
	for i, id := range ids {
		if err := compareRecorded(uint32(id), scopes[i], kcvs[i], recorded); err != nil {
			return err
		}
	}
	return nil
}

// recordedKCV is a key check value recorded in the database.
type recordedKCV struct {
	Scope string
	KCV   string
}

// keyCheckValues returns the check values recorded in the database by key
// ID (none if the table does not exist yet).
func keyCheckValues(ctx context.Context, pool pgq.Querier) (map[uint32]recordedKCV, error) {
	var exists bool
	if err := pool.QueryRow(ctx, `SELECT to_regclass('keyring_key_check_values') IS NOT NULL`).Scan(&exists); err != nil {
		return nil, fmt.Errorf("keyring/pgstore: %w", err)
	}
	out := map[uint32]recordedKCV{}
	if !exists {
		return out, nil
	}
	rows, err := pool.Query(ctx, `SELECT key_id, scope, kcv FROM keyring_key_check_values`)
	if err != nil {
		return nil, fmt.Errorf("keyring/pgstore: %w", err)
	}
	var id int64
	var r recordedKCV
	if _, err := pgx.ForEachRow(rows, []any{&id, &r.Scope, &r.KCV}, func() error {
		out[uint32(id)] = r
		return nil
	}); err != nil {
		return nil, fmt.Errorf("keyring/pgstore: %w", err)
	}
	return out, nil
}

func compareRecorded(id uint32, scope, kcv string, recorded map[uint32]recordedKCV) error {
	r, ok := recorded[id]
	switch {
	case !ok:
		return nil
	case r.Scope != scope:
		return &keyring.ScopeError{Scope: scope, KeyID: id, Err: fmt.Errorf("%w: the database recorded key %d for scope %q",
			keyring.ErrKeyCheckValue, id, r.Scope)}
	case r.KCV != kcv:
		return &keyring.ScopeError{Scope: scope, KeyID: id, Err: fmt.Errorf("%w: the database recorded check value %s for key %d, this key's is %s; "+
			"it is not the key that sealed the data under this ID", keyring.ErrKeyCheckValue, r.KCV, id, kcv)}
	}
	return nil
}

var _ keyring.KeyCheckValueReader = counter{}

// KeyCheckValues implements keyring.KeyCheckValueReader for the guardrail.
func (c counter) KeyCheckValues(ctx context.Context) (map[uint32]string, error) {
	rec, err := keyCheckValues(ctx, c.pool)
	if err != nil {
		return nil, err
	}
	out := make(map[uint32]string, len(rec))
	for id, r := range rec {
		out[id] = r.KCV
	}
	return out, nil
}
