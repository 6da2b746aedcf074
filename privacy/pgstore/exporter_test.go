package pgstore_test

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/privacy"
	"github.com/rampart-sdk/rampart/privacy/pgstore"
)

// field is a fake keyring.Field (contract 2): AES-GCM bound to the row ID.
type field struct{ aead cipher.AEAD }

func newField(t *testing.T) field {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	b, err := aes.NewCipher(key)
	require.NoError(t, err)
	a, err := cipher.NewGCM(b)
	require.NoError(t, err)
	return field{a}
}

func (f field) Seal(rowID string, pt []byte) ([]byte, error) {
	n := make([]byte, f.aead.NonceSize())
	_, _ = rand.Read(n)
	return f.aead.Seal(n, n, pt, []byte(rowID)), nil
}

func (f field) Open(rowID string, ct []byte) ([]byte, error) {
	if len(ct) < f.aead.NonceSize() {
		return nil, errors.New("fake field: short ciphertext")
	}
	return f.aead.Open(nil, ct[:f.aead.NonceSize()], ct[f.aead.NonceSize():], []byte(rowID))
}

// TestTableExporterDecryptsAndStreams exports sealed rows of a subject,
// decrypted, through the lifecycle.s export, and refuses a ciphertext moved to
// another row.
func TestTableExporterDecryptsAndStreams(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, st := setup(t)
	f := newField(t)
	_, err := pool.Exec(ctx, `CREATE TABLE contacts (id bigint PRIMARY KEY, org text, subject text, email bytea, label text)`)
	require.NoError(t, err)
	for _, r := range []struct {
		id           int
		org, subject string
		email        string
	}{{1, "o1", "u1", "a@example.com"}, {2, "o1", "u1", "b@example.com"}, {3, "o1", "u2", "c@example.com"}, {4, "o2", "u1", "d@example.com"}} {
		ct, _ := f.Seal(string(rune('0'+r.id)), []byte(r.email))
		_, err := pool.Exec(ctx, `INSERT INTO contacts VALUES ($1, $2, $3, $4, 'home')`, r.id, r.org, r.subject, ct)
		require.NoError(t, err)
	}
	ex, err := pgstore.NewTableExporter(pool, pgstore.ExportTable{Name: "contacts", OrgColumn: "org", SubjectColumn: "subject",
		Columns: []string{"id", "email", "label"}, RowIDColumn: "id", Sealed: map[string]privacy.Opener{"email": f}})
	require.NoError(t, err)
	m := newServices(t, st)
	require.NoError(t, m.RegisterDomain(privacy.Domain{Name: "contacts", Eraser: privacy.EraserFunc(
		func(context.Context, privacy.EraseRequest) (privacy.Result, error) { return privacy.Result{}, nil }), Exporter: ex}))
	var buf bytes.Buffer
	info, err := m.Export(ctx, &buf, privacy.Ref{Org: "o1", ID: "u1"}, "user:u1")
	require.NoError(t, err)
	require.Equal(t, "domain/contacts", info.Manifest[0].Section)
	require.Equal(t, 2, info.Manifest[0].Records, "only o1/u1's rows")
	require.Contains(t, buf.String(), `"email":"a@example.com"`)
	require.Contains(t, buf.String(), `"email":"b@example.com"`)
	require.NotContains(t, buf.String(), "c@example.com")
	require.NotContains(t, buf.String(), "d@example.com")
	_, err = privacy.ReadExport(bytes.NewReader(buf.Bytes()))
	require.NoError(t, err)
	var doc map[string]any
	require.NoError(t, json.Unmarshal(buf.Bytes(), &doc))

	// A ciphertext copied onto another row does not open there.
	_, err = pool.Exec(ctx, `UPDATE contacts SET email = (SELECT email FROM contacts WHERE id = 3) WHERE id = 2`)
	require.NoError(t, err)
	_, err = m.Export(ctx, &bytes.Buffer{}, privacy.Ref{Org: "o1", ID: "u1"}, "user:u1")
	require.ErrorContains(t, err, "contacts.email: open")

	_, err = pgstore.NewTableExporter(pool, pgstore.ExportTable{Name: "contacts", SubjectColumn: "subject", Columns: []string{"email"},
		Sealed: map[string]privacy.Opener{"email": f}})
	require.ErrorIs(t, err, privacy.ErrInvalid, "sealed columns need a row id")
	_, err = pgstore.NewTableExporter(pool, pgstore.ExportTable{Name: "contacts", SubjectColumn: "subject", Columns: []string{"email; --"}})
	require.ErrorIs(t, err, privacy.ErrInvalid)
	_, err = pgstore.NewTableExporter(pool, pgstore.ExportTable{Name: "contacts", SubjectColumn: "subject", Columns: []string{"email"},
		RowIDColumn: "id", Sealed: map[string]privacy.Opener{"e_mail": f}})
	require.ErrorIs(t, err, privacy.ErrInvalid, "a sealed column that is not exported is a typo")
}
