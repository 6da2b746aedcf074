package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	authnpg "github.com/rampart-sdk/rampart/authn/pgstore"
	"github.com/rampart-sdk/rampart/keyring"
	"github.com/rampart-sdk/rampart/keyring/pgstore"
)

// normalizers are the normalisers "keys reindex --normalize" offers. They
// must be the application's: Reindex checks every recomputed value against
// the stored one and stops at the first that differs, so a wrong choice
// writes nothing wrong.
var normalizers = map[string]func([]byte) []byte{
	"none":       nil,
	"lower":      bytes.ToLower,
	"trim":       bytes.TrimSpace,
	"trim-lower": func(b []byte) []byte { return bytes.ToLower(bytes.TrimSpace(b)) },
}

func keysReindex(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "keys reindex", "keys reindex --file FILE [--kek-env VAR] --dsn URL --table T --id-column C --column IDX --source-column C [--normalize none|lower|trim|trim-lower] [--truncate N] [--batch N] [--restart] [--json]")
	file, kekEnv := registryFlags(fs)
	dsn := dsnFlag(e, fs)
	table := fs.String("table", "", "table (optionally schema-qualified)")
	idCol := fs.String("id-column", "id", "primary-key column; its text form is the row ID the source was sealed for")
	column := fs.String("column", "", "blind-index column (declared with kind blind_index in the registry document)")
	srcCol := fs.String("source-column", "", "the encrypted column of the same table the index is computed from")
	norm := fs.String("normalize", "none", "the application's normaliser: none, lower, trim or trim-lower")
	trunc := fs.Int("truncate", 0, "the application's token truncation in bytes (8..32; 0 = full 32-byte token)")
	batch := fs.Int("batch", 2000, "rows per batch")
	restart := fs.Bool("restart", false, "ignore a saved checkpoint and start from the first row")
	jsonOut := fs.Bool("json", false, "print the result as JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *dsn == "" || *table == "" || *column == "" || *idCol == "" {
		return usageErr("--dsn, --table and --column are required")
	}
	normalize, ok := normalizers[*norm]
	if !ok {
		return usageErr("--normalize %q: want none, lower, trim or trim-lower", *norm)
	}
	_, d, err := loadRegistry(ctx, e, *file, *kekEnv)
	if err != nil {
		return err
	}
	ring, err := keyring.New(d)
	if err != nil {
		return operational(err)
	}
	var opts []keyring.IndexOption
	if normalize != nil { // "none": hash values as stored
		opts = append(opts, keyring.WithNormalizer(normalize))
	}
	if *trunc != 0 {
		opts = append(opts, keyring.WithTruncation(*trunc))
	}
	idx, err := ring.BlindIndex(*table, *column, opts...)
	if err != nil {
		if errors.Is(err, keyring.ErrUndeclaredColumn) {
			if ring.Field(*table, *column).Err() == nil {
				return usageErr("%s.%s is an encrypted column, not a blind index: run \"rampart keys reencrypt\"", *table, *column)
			}
			return usageErr("%v (declare it in the registry document's columns with \"kind\": \"blind_index\")", err)
		}
		return usageErr("%v", err)
	}
	if *srcCol == "" {
		if isAPIKeyPepper(*table, *column) {
			return usageErr("%s.%s is the API-key pepper: the secrets it hashed are not stored, so it cannot be recomputed; "+
				"the old key stays active until every API key hashed under it has expired or been reissued "+
				"(\"rampart keys retire\" refuses until then; see docs/OPERATIONS.md)", *table, *column)
		}
		return usageErr("--source-column is required: the encrypted column of %s that %s is computed from "+
			"(an index whose source is not stored cannot be recomputed: keep its old key active until the rows under it are gone)", *table, *column)
	}
	field := ring.Field(*table, *srcCol)
	if err := field.Err(); err != nil {
		return usageErr("--source-column: %v (it must be an encrypted column declared in the registry document)", err)
	}
	pool, store, ro, err := startColumnJob(ctx, e, *dsn, d, *table, *column, *batch, *restart)
	if err != nil {
		return err
	}
	defer pool.Close()
	res, err := idx.Reindex(ctx, pgstore.NewIndexColumn(pool, *table, *idCol, *column, *srcCol), keyring.FieldValues(field), ro)
	if e.stderrIsTerminal {
		fmt.Fprintln(e.stderr)
	}
	if err != nil {
		if errors.Is(err, keyring.ErrIndexMismatch) {
			return findings("%v: with --normalize %s --truncate %d, %s.%s does not reproduce the stored index; "+
				"pass the application's normaliser and truncation (nothing of this batch was written)", err, *norm, *trunc, *table, *srcCol)
		}
		if errors.Is(err, keyring.ErrDecrypt) || errors.Is(err, keyring.ErrUndeclaredKey) ||
			errors.Is(err, keyring.ErrKeyRetired) || errors.Is(err, keyring.ErrMalformed) {
			return findings("%v", err)
		}
		return operational(err)
	}
	if err := store.ClearCheckpoint(ctx, *table, *column); err != nil {
		return operational(err)
	}
	if *jsonOut {
		return writeJSON(e.stdout, res)
	}
	fmt.Fprintf(e.stdout, "%s.%s: %d rows scanned, %d reindexed, %d already current, %d changed meanwhile (already under the primary key)\n",
		*table, *column, res.Scanned, res.Rewritten, res.Current, res.Conflicts)
	return nil
}

// blindIndexHint explains, for "keys reencrypt" pointed at a blind-index
// column, that its values are recomputed rather than re-encrypted.
func blindIndexHint(d *keyring.Document, table, column string) error {
	for _, c := range d.Columns {
		if c.Table != table || c.Column != column || c.Kind != keyring.KindBlindIndex {
			continue
		}
		if isAPIKeyPepper(table, column) {
			return usageErr("%s.%s is the API-key pepper (scope %q): hashes cannot be re-encrypted or recomputed, since the secrets are not stored; "+
				"keep the old key active until every API key hashed under it has expired or been reissued", table, column, c.Scope)
		}
		return usageErr("%s.%s is a blind index (scope %q): its values are recomputed, not re-encrypted: "+
			"run \"rampart keys reindex --table %s --column %s --source-column <the encrypted column it indexes>\"", table, column, c.Scope, table, column)
	}
	return nil
}

// rotateNextStep says what must happen before the demoted key can be retired.
func rotateNextStep(d *keyring.Document, scope string, old uint32) string {
	field, index, pepper := false, false, false
	for _, c := range d.Columns {
		if c.Scope != scope {
			continue
		}
		switch {
		case c.Kind == keyring.KindBlindIndex && isAPIKeyPepper(c.Table, c.Column):
			pepper = true
		case c.Kind == keyring.KindBlindIndex:
			index = true
		default:
			field = true
		}
	}
	switch {
	case pepper:
		return fmt.Sprintf("key %d stays active until every API key hashed under it has expired or been reissued (its secrets are not stored, so the hashes cannot be recomputed); then retire it", old)
	case index && !field:
		return fmt.Sprintf("key %d is active until the index is recomputed (\"rampart keys reindex\") and the key retired", old)
	}
	return fmt.Sprintf("key %d is active until re-encrypted and retired", old)
}

// isAPIKeyPepper reports whether (table, column) is authn's API-key hash
// column, whose pepper hashes secrets that are never stored.
func isAPIKeyPepper(table, column string) bool {
	return column == authnpg.APIKeyHashColumn && (table == authnpg.APIKeyTable || strings.HasSuffix(table, "."+authnpg.APIKeyTable))
}

// keysCounter is the guardrail's counter for the CLI: pgstore's, counting
// for authn's API-key hashes only the keys that can still verify (HMAC, not
// revoked, not expired), the only ones that need their pepper key.
func keysCounter(pool *pgxpool.Pool, d *keyring.Document) (keyring.KeyIDCounter, error) {
	var opts []pgstore.CounterOption
	for _, c := range d.Columns {
		if c.Kind == keyring.KindBlindIndex && isAPIKeyPepper(c.Table, c.Column) {
			opts = append(opts, pgstore.CountWhere(c.Table, c.Column, authnpg.LiveAPIKeys))
		}
	}
	return pgstore.Counter(pool, opts...)
}

// apiKeyUse is how many live API keys a pepper key hashed, and until when
// they live.
type apiKeyUse struct {
	n, neverExpire int64
	latest         time.Time // the latest expiry among them
}

func liveAPIKeys(ctx context.Context, pool *pgxpool.Pool, table string, keyIDs []uint32) (map[uint32]apiKeyUse, error) {
	ids := make([]int64, len(keyIDs))
	for i, id := range keyIDs {
		ids[i] = int64(id)
	}
	q := fmt.Sprintf(`SELECT %s, count(*), count(*) FILTER (WHERE expires_at IS NULL), max(expires_at)
		FROM %s WHERE %s GROUP BY 1`, pgstore.IndexKeyIDSQL("hash", 1), pgx.Identifier(strings.Split(table, ".")).Sanitize(), authnpg.LiveAPIKeys)
	rows, err := pool.Query(ctx, q, ids)
	if err != nil {
		return nil, fmt.Errorf("keys: count %s.hash: %w", table, err)
	}
	defer rows.Close()
	out := map[uint32]apiKeyUse{}
	for rows.Next() {
		var id int64
		var u apiKeyUse
		var latest *time.Time
		if err := rows.Scan(&id, &u.n, &u.neverExpire, &latest); err != nil {
			return nil, fmt.Errorf("keys: count %s.hash: %w", table, err)
		}
		if latest != nil {
			u.latest = latest.UTC()
		}
		out[uint32(id)] = u
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("keys: count %s.hash: %w", table, err)
	}
	return out, nil
}

// retireGuard refuses (exit 1) while a declared column of key id's scope
// still needs the key, saying for each column what lets it go: re-encrypt a
// field, reindex a blind index, or, for the API-key pepper, wait until the
// keys it hashed have expired or been reissued.
func retireGuard(ctx context.Context, d *keyring.Document, k keyring.KeyEntry, dsn string) error {
	declared := false
	for _, c := range d.Columns {
		declared = declared || c.Scope == k.Scope
	}
	if !declared {
		return nil
	}
	if dsn == "" {
		return usageErr("scope %q has declared columns: --dsn is required to prove no data is still under key %d", k.Scope, k.ID)
	}
	pool, err := connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer pool.Close()
	counter, err := keysCounter(pool, d)
	if err != nil {
		return operational(err)
	}
	uses, err := keyring.KeyInUse(ctx, d, k.ID, counter)
	if err != nil {
		return operational(err)
	}
	if len(uses) == 0 {
		return nil
	}
	var busy []string
	for _, u := range uses {
		name := u.Table + "." + u.Column
		switch {
		case u.Kind == keyring.KindField:
			busy = append(busy, fmt.Sprintf("%s holds %d values under it; run \"rampart keys reencrypt --table %s --column %s\"", name, u.Count, u.Table, u.Column))
		case isAPIKeyPepper(u.Table, u.Column):
			live, err := liveAPIKeys(ctx, pool, u.Table, d.ScopeKeyIDs(k.Scope))
			if err != nil {
				return operational(err)
			}
			msg := fmt.Sprintf("%s holds %d live API keys hashed under it", name, u.Count)
			if u.Untagged > 0 {
				msg += fmt.Sprintf(" and %d hashed before key IDs were recorded (under an unknown key of the scope)", u.Untagged)
			}
			var never int64
			var latest time.Time
			for _, id := range []uint32{k.ID, 0} {
				never += live[id].neverExpire
				if live[id].latest.After(latest) {
					latest = live[id].latest
				}
			}
			if !latest.IsZero() {
				msg += fmt.Sprintf("; the last of those with an expiry expires at %s", latest.Format(time.RFC3339))
			}
			if never > 0 {
				msg += fmt.Sprintf("; %d never expire and must be reissued (create a new key, revoke the old)", never)
			}
			msg += fmt.Sprintf(". API-key secrets are not stored, so these hashes cannot be recomputed: key %d must stay active until those keys have expired, been revoked or been reissued", k.ID)
			busy = append(busy, msg)
		default:
			msg := fmt.Sprintf("%s holds %d index values under it", name, u.Count)
			if u.Untagged > 0 {
				msg += fmt.Sprintf(" and %d without a key ID (written before key IDs were recorded, so their key is unknown)", u.Untagged)
			}
			msg += fmt.Sprintf("; run \"rampart keys reindex --table %s --column %s --source-column <the encrypted column it indexes>\" "+
				"(an index whose source is not stored keeps key %d active until those rows are gone)", u.Table, u.Column, k.ID)
			busy = append(busy, msg)
		}
	}
	return findings("refusing to retire key %d of scope %q: %s", k.ID, k.Scope, strings.Join(busy, "; "))
}

// startColumnJob opens the database for a re-encryption or reindex of
// table.column: it applies keyring's schema, records the registry's key
// check values (refusing another key under an ID the database knows: the
// run would write values the application cannot open or find), and returns
// the run's options: resume from the saved checkpoint unless restart, save
// one after each batch, report progress when stderr is a terminal. The
// caller closes the pool.
func startColumnJob(ctx context.Context, e *env, dsn string, d *keyring.Document, table, column string, batch int, restart bool) (*pgxpool.Pool, pgstore.Store, keyring.ReencryptOptions, error) {
	var opts keyring.ReencryptOptions
	pool, err := connect(ctx, dsn)
	if err != nil {
		return nil, nil, opts, err
	}
	fail := func(err error) (*pgxpool.Pool, pgstore.Store, keyring.ReencryptOptions, error) {
		pool.Close()
		return nil, nil, opts, err
	}
	if err := pgstore.Migrate(ctx, pool); err != nil {
		return fail(operational(err))
	}
	store := pgstore.New(pool)
	if err := store.RecordKeyCheckValues(ctx, d); err != nil {
		if errors.Is(err, keyring.ErrKeyCheckValue) {
			return fail(findings("%v", err))
		}
		return fail(operational(err))
	}
	opts = keyring.ReencryptOptions{BatchSize: batch,
		Checkpoint: func(ctx context.Context, c keyring.Cursor) error {
			return store.SaveCheckpoint(ctx, table, column, c.ID)
		}}
	if !restart {
		if opts.After, err = store.LoadCheckpoint(ctx, table, column); err != nil {
			return fail(operational(err))
		}
		if opts.After.Started {
			fmt.Fprintf(e.stderr, "resuming %s\n", opts.After)
		}
	}
	if e.stderrIsTerminal {
		opts.Progress = func(p keyring.Progress) {
			fmt.Fprintf(e.stderr, "\r%d/%d rows, %.0f rows/s, ETA %s   ", p.Done, p.Total, p.Rate, p.ETA.Round(time.Second))
		}
	}
	return pool, store, opts, nil
}
