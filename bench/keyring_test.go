package bench

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/rampart-sdk/rampart/internal/pgtest"
	"github.com/rampart-sdk/rampart/keyring"
	"github.com/rampart-sdk/rampart/keyring/pgstore"
	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/keyset"
)

func keyringRing(b *testing.B) (*keyring.Document, *keyring.Ring) {
	d, err := keyring.Init([]string{"users.email"}, keyring.Column{Table: "users", Column: "email", Scope: "users.email"})
	if err != nil {
		b.Fatal(err)
	}
	r, err := keyring.New(d)
	if err != nil {
		b.Fatal(err)
	}
	return d, r
}

// BenchmarkKeyringSealOpen64 seals and opens a 64-byte field: rampart's
// Field, raw crypto/cipher AES-256-GCM with the same associated data and
// envelope, and tink-go's AES256-GCM AEAD with the same associated data.
func BenchmarkKeyringSealOpen64(b *testing.B) {
	pt := make([]byte, 64)
	const row = "123456"
	b.Run("rampart", func(b *testing.B) {
		_, r := keyringRing(b)
		f := r.Field("users", "email")
		b.ReportAllocs()
		for b.Loop() {
			ct, err := f.Seal(row, pt)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := f.Open(row, ct); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("raw-gcm", func(b *testing.B) {
		key := make([]byte, 32)
		_, _ = rand.Read(key)
		blk, _ := aes.NewCipher(key)
		g, _ := cipher.NewGCM(blk)
		ad := func(row string) []byte {
			a := make([]byte, 0, 64)
			a = append(a, 1)
			for _, s := range []string{"users.email"} {
				a = binary.BigEndian.AppendUint32(a, uint32(len(s)))
				a = append(a, s...)
			}
			a = binary.BigEndian.AppendUint32(a, 1)
			for _, s := range []string{"users", "email", row} {
				a = binary.BigEndian.AppendUint32(a, uint32(len(s)))
				a = append(a, s...)
			}
			return a
		}
		b.ReportAllocs()
		for b.Loop() {
			out := make([]byte, 17, 17+len(pt)+16)
			out[0] = 1
			binary.BigEndian.PutUint32(out[1:5], 1)
			_, _ = rand.Read(out[5:17])
			ct := g.Seal(out, out[5:17], pt, ad(row))
			if _, err := g.Open(nil, ct[5:17], ct[17:], ad(row)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("tink", func(b *testing.B) {
		h, err := keyset.NewHandle(aead.AES256GCMKeyTemplate())
		if err != nil {
			b.Fatal(err)
		}
		a, err := aead.New(h)
		if err != nil {
			b.Fatal(err)
		}
		// The same associated data as rampart's, built once.
		ad := []byte("\x01\x00\x00\x00\x0busers.email\x00\x00\x00\x01\x00\x00\x00\x05users\x00\x00\x00\x05email\x00\x00\x00\x06" + row)
		b.ReportAllocs()
		for b.Loop() {
			ct, err := a.Encrypt(pt, ad)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := a.Decrypt(ct, ad); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkKeyringSeal64 isolates Seal to count its allocations (target <= 2).
func BenchmarkKeyringSeal64(b *testing.B) {
	_, r := keyringRing(b)
	f := r.Field("users", "email")
	pt := make([]byte, 64)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.Seal("123456", pt); err != nil {
			b.Fatal(err)
		}
	}
}

// keyringTable fills users(id bigint, email bytea) with n sealed rows.
func keyringTable(b *testing.B, f *keyring.Field, n int) *pgtest.DB {
	db := pgtest.New(b)
	ctx := context.Background()
	if _, err := db.Pool.Exec(ctx, `CREATE TABLE users (id bigint PRIMARY KEY, email bytea)`); err != nil {
		b.Fatal(err)
	}
	pt := []byte("someone.with.a.long.name@example.com")
	_, err := db.Pool.CopyFrom(ctx, pgx.Identifier{"users"}, []string{"id", "email"},
		pgx.CopyFromFunc(func() func() ([]any, error) {
			i := 0
			return func() ([]any, error) {
				if i == n {
					return nil, nil
				}
				i++
				ct, err := f.Seal(strconv.Itoa(i), pt)
				return []any{int64(i), ct}, err
			}
		}()))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := db.Pool.Exec(ctx, `VACUUM ANALYZE users`); err != nil {
		b.Fatal(err)
	}
	return db
}

// BenchmarkKeyringReencrypt rotates the scope and re-encrypts every row of
// the table on PostgreSQL, reporting rows/s (target >= 20,000).
func BenchmarkKeyringReencrypt(b *testing.B) {
	n := benchRows(20000)
	d, r := keyringRing(b)
	db := keyringTable(b, r.Field("users", "email"), n)
	col := pgstore.NewColumn(db.Pool, "users", "id", "email")
	ctx := context.Background()
	var total time.Duration
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		if _, err := d.Rotate("users.email"); err != nil {
			b.Fatal(err)
		}
		r2, err := keyring.New(d)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		res, err := r2.Field("users", "email").Reencrypt(ctx, col, keyring.ReencryptOptions{BatchSize: 5000})
		if err != nil {
			b.Fatal(err)
		}
		total += time.Since(start)
		if res.Rewritten != int64(n) {
			b.Fatalf("rewrote %d of %d", res.Rewritten, n)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/total.Seconds(), "rows/s")
}

// BenchmarkKeyringGuardrailScan counts ciphertexts per key ID over the whole
// column, reading only the envelope headers (target: 1,000,000 rows < 5 s).
func BenchmarkKeyringGuardrailScan(b *testing.B) {
	n := benchRows(20000)
	d, r := keyringRing(b)
	db := keyringTable(b, r.Field("users", "email"), n)
	ctx := context.Background()
	counter, err := pgstore.Counter(db.Pool)
	if err != nil {
		b.Fatal(err)
	}
	var total time.Duration
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		rep, err := keyring.Check(ctx, d, keyring.CheckOptions{Counter: counter})
		if err != nil {
			b.Fatal(err)
		}
		total += time.Since(start)
		if !rep.OK || rep.Counts[0].Count != int64(n) {
			b.Fatalf("unexpected report %+v", rep)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/total.Seconds(), "rows/s")
	b.ReportMetric(total.Seconds()/float64(b.N), "s/scan")
}
