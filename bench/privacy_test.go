package bench

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rampart-sdk/rampart/internal/pgtest"
	"github.com/rampart-sdk/rampart/privacy"
	"github.com/rampart-sdk/rampart/privacy/pgstore"
)

var privacyT0 = time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)

// privacySweepFixture fills a fresh schema with n subjects due for erasure
// and two rows per subject in each of three host tables.
func privacySweepFixture(b *testing.B, pool *pgxpool.Pool, n int) {
	b.Helper()
	ctx := context.Background()
	type stmt struct {
		sql  string
		args []any
	}
	nArg := []any{n}
	for _, s := range []stmt{
		{`DROP TABLE IF EXISTS users, orders, events`, nil},
		{`TRUNCATE privacy_subjects, privacy_progress`, nil},
		{`CREATE TABLE users (org text, id text, email text, name text)`, nil},
		{`CREATE TABLE orders (org text, subject text, total int)`, nil},
		{`CREATE TABLE events (subject text, kind text)`, nil},
		{`INSERT INTO users SELECT 'acme', 'u' || g, 'u' || g || '@example.com', 'n' FROM generate_series(1, $1) g`, nArg},
		{`INSERT INTO orders SELECT 'acme', 'u' || (g % $1 + 1), g FROM generate_series(1, 2 * $1) g`, nArg},
		{`INSERT INTO events SELECT 'u' || (g % $1 + 1), 'click' FROM generate_series(1, 2 * $1) g`, nArg},
		{`CREATE INDEX ON users (id)`, nil},
		{`CREATE INDEX ON orders (subject)`, nil},
		{`CREATE INDEX ON events (subject)`, nil},
		{`INSERT INTO privacy_subjects (org, subject_id, state, deletion_requested_at, erase_after, next_due)
		 SELECT 'acme', 'u' || g, 'deletion_requested', $2::timestamptz, $2::timestamptz + interval '30 days', $2::timestamptz + interval '30 days'
		 FROM generate_series(1, $1) g`, []any{n, privacyT0}},
		{`ANALYZE`, nil},
	} {
		if _, err := pool.Exec(ctx, s.sql, s.args...); err != nil {
			b.Fatalf("%s: %v", s.sql, err)
		}
	}
}

func tableEraser(b *testing.B, pool *pgxpool.Pool, t pgstore.Table) privacy.Eraser {
	e, err := pgstore.NewTableEraser(pool, t)
	if err != nil {
		b.Fatal(err)
	}
	return e
}

// BenchmarkPrivacySweepPostgres sweeps N due subjects over three domains:
// rampart's batched, resumable sweeper against a hand-written loop of three
// DELETEs per subject (no progress, no lease, no history).
func BenchmarkPrivacySweepPostgres(b *testing.B) {
	db := pgtest.New(b)
	ctx := context.Background()
	if err := pgstore.Migrate(ctx, db.Pool); err != nil {
		b.Fatal(err)
	}
	n := benchRows(2000)

	b.Run(fmt.Sprintf("rampart/subjects=%d", n), func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			b.StopTimer()
			privacySweepFixture(b, db.Pool, n)
			s, err := pgstore.New(db.Pool)
			if err != nil {
				b.Fatal(err)
			}
			m, err := privacy.NewLifecycle(s, privacy.WithClock(func() time.Time { return privacyT0.Add(31 * 24 * time.Hour) }))
			if err != nil {
				b.Fatal(err)
			}
			for _, d := range []privacy.Domain{
				{Name: "users", Eraser: tableEraser(b, db.Pool, pgstore.Table{Name: "users", OrgColumn: "org", SubjectColumn: "id"})},
				{Name: "orders", Eraser: tableEraser(b, db.Pool, pgstore.Table{Name: "orders", OrgColumn: "org", SubjectColumn: "subject"})},
				{Name: "events", Eraser: tableEraser(b, db.Pool, pgstore.Table{Name: "events", SubjectColumn: "subject"})},
			} {
				if err := m.RegisterDomain(d); err != nil {
					b.Fatal(err)
				}
			}
			b.StartTimer()
			rep, err := m.Sweep(ctx, privacy.SweepOptions{BatchSize: 1000})
			if err != nil {
				b.Fatal(err)
			}
			if rep.Erased != n {
				b.Fatalf("erased %d of %d", rep.Erased, n)
			}
		}
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "subjects/s")
	})

	// The loop pays a commit per statement: cap it so a full-size run (and
	// CI's single iteration) does not spend minutes on the peer.
	nn := min(n, 1000)
	b.Run(fmt.Sprintf("naive-loop/subjects=%d", nn), func(b *testing.B) {
		n := nn
		b.ReportAllocs()
		for b.Loop() {
			b.StopTimer()
			privacySweepFixture(b, db.Pool, n)
			b.StartTimer()
			rows, err := db.Pool.Query(ctx, `SELECT org, subject_id FROM privacy_subjects WHERE next_due <= $1`, privacyT0.Add(31*24*time.Hour))
			if err != nil {
				b.Fatal(err)
			}
			type ref struct{ org, id string }
			var due []ref
			for rows.Next() {
				var r ref
				if err := rows.Scan(&r.org, &r.id); err != nil {
					b.Fatal(err)
				}
				due = append(due, r)
			}
			for _, r := range due {
				for _, q := range []string{
					`DELETE FROM users WHERE org = $1 AND id = $2`,
					`DELETE FROM orders WHERE org = $1 AND subject = $2`,
					`DELETE FROM events WHERE subject = $2 AND $1 <> ''`,
					`UPDATE privacy_subjects SET state = 'erased', next_due = NULL WHERE org = $1 AND subject_id = $2`,
				} {
					if _, err := db.Pool.Exec(ctx, q, r.org, r.id); err != nil {
						b.Fatal(err)
					}
				}
			}
		}
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "subjects/s")
	})
}

type exportRecord struct {
	Order   int       `json:"order"`
	Subject string    `json:"subject"`
	Email   string    `json:"email"`
	Total   int       `json:"total"`
	At      time.Time `json:"at"`
}

// BenchmarkPrivacyExport10k exports a subject with 10,000 records: rampart's
// streamed, hashed document against encoding/json marshalling the whole
// document in memory.
func BenchmarkPrivacyExport10k(b *testing.B) {
	const n = 10000
	gen := func(yield func(any) error) error {
		for i := range n {
			if err := yield(exportRecord{Order: i, Subject: "u1", Email: "u1@example.com", Total: i * 3, At: privacyT0}); err != nil {
				return err
			}
		}
		return nil
	}
	b.Run("rampart-stream", func(b *testing.B) {
		m, err := privacy.NewLifecycle(privacy.NewMemoryStore(), privacy.WithClock(func() time.Time { return privacyT0 }))
		if err != nil {
			b.Fatal(err)
		}
		if err := m.RegisterDomain(privacy.Domain{Name: "orders", Eraser: privacy.EraserFunc(func(context.Context, privacy.EraseRequest) (privacy.Result, error) {
			return privacy.Result{}, nil
		}), Exporter: privacy.ExporterFunc(func(_ context.Context, _, _ string, yield func(any) error) error { return gen(yield) })}); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := m.Export(context.Background(), io.Discard, privacy.Ref{Org: "acme", ID: "u1"}, "user:u1"); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
	})
	b.Run("encoding-json-in-memory", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var recs []any
			_ = gen(func(r any) error { recs = append(recs, r); return nil })
			out, err := json.Marshal(map[string]any{"schema": privacy.ExportSchema, "sections": []any{map[string]any{"name": "domain/orders", "records": recs}}})
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Discard.Write(out)
		}
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
	})
}

// benchField is an AES-256-GCM field cipher bound to the row ID, standing in
// for keyring.Field (contract 2) so the export pays real decryption.
type benchField struct{ aead cipher.AEAD }

func newBenchField(b *testing.B) benchField {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		b.Fatal(err)
	}
	blk, err := aes.NewCipher(key)
	if err != nil {
		b.Fatal(err)
	}
	a, err := cipher.NewGCM(blk)
	if err != nil {
		b.Fatal(err)
	}
	return benchField{a}
}

func (f benchField) seal(rowID string, pt []byte) []byte {
	n := make([]byte, f.aead.NonceSize())
	_, _ = rand.Read(n)
	return f.aead.Seal(n, n, pt, []byte(rowID))
}

func (f benchField) Open(rowID string, ct []byte) ([]byte, error) {
	ns := f.aead.NonceSize()
	if len(ct) < ns {
		return nil, fmt.Errorf("short ciphertext")
	}
	return f.aead.Open(nil, ct[:ns], ct[ns:], []byte(rowID))
}

// BenchmarkPrivacyExport10kPostgres exports a subject with 10,000 rows in
// PostgreSQL, one sealed column decrypted per row, streamed from the wire.
func BenchmarkPrivacyExport10kPostgres(b *testing.B) {
	const n = 10000
	db := pgtest.New(b)
	ctx := context.Background()
	if err := pgstore.Migrate(ctx, db.Pool); err != nil {
		b.Fatal(err)
	}
	f := newBenchField(b)
	if _, err := db.Pool.Exec(ctx, `CREATE TABLE orders (id bigint PRIMARY KEY, org text, subject text, email bytea, total int, at timestamptz)`); err != nil {
		b.Fatal(err)
	}
	rows := make([][]any, n)
	for i := range rows {
		id := int64(i + 1)
		rows[i] = []any{id, "acme", "u1", f.seal(strconv.FormatInt(id, 10), []byte("u1@example.com")), i * 3, privacyT0}
	}
	if _, err := db.Pool.CopyFrom(ctx, pgx.Identifier{"orders"}, []string{"id", "org", "subject", "email", "total", "at"}, pgx.CopyFromRows(rows)); err != nil {
		b.Fatal(err)
	}
	ex, err := pgstore.NewTableExporter(db.Pool, pgstore.ExportTable{Name: "orders", OrgColumn: "org", SubjectColumn: "subject",
		Columns: []string{"id", "email", "total", "at"}, RowIDColumn: "id", Sealed: map[string]privacy.Opener{"email": f}})
	if err != nil {
		b.Fatal(err)
	}
	s, err := pgstore.New(db.Pool)
	if err != nil {
		b.Fatal(err)
	}
	m, err := privacy.NewLifecycle(s, privacy.WithClock(func() time.Time { return privacyT0 }))
	if err != nil {
		b.Fatal(err)
	}
	if err := m.RegisterDomain(privacy.Domain{Name: "orders", Exporter: ex, Eraser: privacy.EraserFunc(
		func(context.Context, privacy.EraseRequest) (privacy.Result, error) { return privacy.Result{}, nil })}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		info, err := m.Export(ctx, io.Discard, privacy.Ref{Org: "acme", ID: "u1"}, "user:u1")
		if err != nil {
			b.Fatal(err)
		}
		if info.Manifest[0].Records != n {
			b.Fatalf("exported %d records", info.Manifest[0].Records)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
}
