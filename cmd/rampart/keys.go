package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/rampart-sdk/rampart/keyring"
	"github.com/rampart-sdk/rampart/keyring/pgstore"
)

func keysGroup() group {
	return group{
		name:    "keys",
		summary: "the key registry and the columns encrypted under it",
		verbs: []verb{
			{name: "init", summary: "write a new registry document with one primary key per scope", run: keysInit},
			{name: "rotate", summary: "add a new primary key to a scope; the old one stays active", run: keysRotate},
			{name: "retire", summary: "retire a key, refusing while a declared column still uses it", run: keysRetire},
			{name: "reencrypt", summary: "move a column to its scope's primary key, resumably, without downtime", run: keysReencrypt},
			{name: "reindex", summary: "recompute a blind-index column under its scope's primary key, resumably", run: keysReindex},
			{name: "check", summary: "guardrail: registry and stored data against the declared columns", run: keysCheck},
		},
	}
}

// listFlag collects a repeatable flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// parseColumn reads "table.column=scope"; the table may be schema-qualified,
// so the column is what follows the last dot before "=".
func parseColumn(v string, kind keyring.ColumnKind) (keyring.Column, error) {
	tc, scope, ok := strings.Cut(v, "=")
	i := strings.LastIndex(tc, ".")
	if !ok || i <= 0 || i == len(tc)-1 || scope == "" {
		return keyring.Column{}, usageErr("bad column %q: want table.column=scope", v)
	}
	return keyring.Column{Table: tc[:i], Column: tc[i+1:], Scope: scope, Kind: kind}, nil
}

func keysInit(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "keys init", "keys init --scope S [--scope S ...] [--column T.C=S ...] [--blind-index T.C=S ...] [--kek-env VAR] --out FILE")
	var scopes, cols, idxs listFlag
	fs.Var(&scopes, "scope", "a scope to create (repeatable)")
	fs.Var(&cols, "column", "declare an encrypted column: table.column=scope (repeatable)")
	fs.Var(&idxs, "blind-index", "declare a blind-index column: table.column=scope (repeatable)")
	out := fs.String("out", "", "file to write (mode 0600; must not exist)")
	kekEnv := fs.String("kek-env", "", "environment variable holding a base64 32-byte key-encryption key: store the keys wrapped by it")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if len(scopes) == 0 || *out == "" {
		return usageErr("--scope and --out are required")
	}
	var columns []keyring.Column
	for _, group := range []struct {
		vals listFlag
		kind keyring.ColumnKind
	}{{cols, keyring.KindField}, {idxs, keyring.KindBlindIndex}} {
		for _, v := range group.vals {
			c, err := parseColumn(v, group.kind)
			if err != nil {
				return err
			}
			columns = append(columns, c)
		}
	}
	d, err := keyring.Init(scopes, columns...)
	if err != nil {
		return usageErr("%v", err)
	}
	if _, err := os.Lstat(*out); err == nil {
		return operational(fmt.Errorf("%s exists; refusing to overwrite a registry", *out))
	}
	reg, err := openRegistry(e, *out, *kekEnv)
	if err != nil {
		return err
	}
	if err := reg.write(ctx, d); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "wrote %s (mode 0600): %d scopes, %d declared columns\n", *out, len(scopes), len(columns))
	for _, k := range d.Keys {
		fmt.Fprintf(e.stdout, "key %d\t%s\t%s\tkcv %s\n", k.ID, k.Scope, k.Status, k.CheckValue())
	}
	return nil
}

// registry is the document file a verb works on, and the KEK that wraps its
// keys when the operator keeps the document in envelope form.
type registry struct {
	path string
	kek  *keyring.LocalKEK
}

// registryFlags registers --file and --kek-env.
func registryFlags(fs *flag.FlagSet) (file, kekEnv *string) {
	file = fs.String("file", "", "registry document (mode 0600)")
	kekEnv = fs.String("kek-env", "", "environment variable holding a base64 32-byte key-encryption key: the document's keys are stored wrapped by it")
	return file, kekEnv
}

func openRegistry(e *env, path, kekEnv string) (*registry, error) {
	if path == "" {
		return nil, usageErr("--file is required")
	}
	r := &registry{path: path}
	if kekEnv != "" {
		raw, err := base64.StdEncoding.DecodeString(e.getenv(kekEnv))
		if err != nil || len(raw) != keyring.KeySize {
			return nil, usageErr("%s must hold a base64-encoded %d-byte key", kekEnv, keyring.KeySize)
		}
		if r.kek, err = keyring.NewLocalKEK(keyring.NewSecret(raw)); err != nil {
			return nil, usageErr("%v", err)
		}
	}
	return r, nil
}

// loadRegistry opens the registry file and reads its document, unwrapping
// the keys when a KEK is named: the first step of every keys verb.
func loadRegistry(ctx context.Context, e *env, path, kekEnv string) (*registry, *keyring.Document, error) {
	reg, err := openRegistry(e, path, kekEnv)
	if err != nil {
		return nil, nil, err
	}
	d, err := reg.read(ctx)
	if err != nil {
		return nil, nil, err
	}
	return reg, d, nil
}

func (r *registry) read(ctx context.Context) (*keyring.Document, error) {
	d, err := keyring.ReadFile(r.path)
	if err != nil {
		return nil, operational(err)
	}
	if r.kek == nil {
		for _, k := range d.Keys {
			if len(k.Wrapped) > 0 {
				return nil, usageErr("%s holds wrapped keys: pass --kek-env", r.path)
			}
		}
	} else {
		if d, err = keyring.EnvelopeSource(keyring.DocumentSource(d), r.kek).Document(ctx); err != nil {
			return nil, operational(err)
		}
	}
	return d, nil
}

// write replaces the file atomically (a crash never leaves half a registry),
// wrapping the keys first when a KEK is in use.
func (r *registry) write(ctx context.Context, d *keyring.Document) error {
	if r.kek != nil {
		var err error
		if d, err = keyring.WrapDocument(ctx, d, r.kek.Wrap); err != nil {
			return operational(err)
		}
	}
	if err := keyring.WriteFile(r.path, d); err != nil { // atomic: temp file, sync, rename
		return operational(err)
	}
	return nil
}

func keysRotate(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "keys rotate", "keys rotate --file FILE [--kek-env VAR] --scope S")
	file, kekEnv := registryFlags(fs)
	scope := fs.String("scope", "", "scope to rotate")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *scope == "" {
		return usageErr("--scope is required")
	}
	reg, d, err := loadRegistry(ctx, e, *file, *kekEnv)
	if err != nil {
		return err
	}
	old, _ := primaryOf(d, *scope)
	id, err := d.Rotate(*scope)
	if err != nil {
		return usageErr("%v", err)
	}
	if err := reg.write(ctx, d); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "scope %q: key %d is primary; %s\n", *scope, id, rotateNextStep(d, *scope, old))
	if k, ok := d.Key(id); ok {
		fmt.Fprintf(e.stdout, "key %d\t%s\t%s\tkcv %s\n", k.ID, k.Scope, k.Status, k.CheckValue())
	}
	return nil
}

func primaryOf(d *keyring.Document, scope string) (uint32, bool) {
	for _, k := range d.Keys {
		if k.Scope == scope && k.Status == keyring.Primary {
			return k.ID, true
		}
	}
	return 0, false
}

func keysRetire(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "keys retire", "keys retire --file FILE [--kek-env VAR] --id N [--dsn URL]")
	file, kekEnv := registryFlags(fs)
	idFlag := fs.Uint("id", 0, "key ID to retire")
	dsn := dsnFlag(e, fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *idFlag == 0 || *idFlag > 1<<32-1 {
		return usageErr("--id is required")
	}
	id := uint32(*idFlag)
	reg, d, err := loadRegistry(ctx, e, *file, *kekEnv)
	if err != nil {
		return err
	}
	k, ok := d.Key(id)
	if !ok {
		return usageErr("key %d does not exist", id)
	}
	if k.Status == keyring.Primary {
		return usageErr("key %d is the primary key of scope %q; rotate the scope first", id, k.Scope)
	}
	if err := retireGuard(ctx, d, k, *dsn); err != nil {
		return err
	}
	if _, err := d.Retire(id); err != nil {
		return usageErr("%v", err)
	}
	if err := reg.write(ctx, d); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "key %d of scope %q is retired\n", id, k.Scope)
	return nil
}

func keysReencrypt(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "keys reencrypt", "keys reencrypt --file FILE [--kek-env VAR] --dsn URL --table T --id-column C --column C [--batch N] [--restart]")
	file, kekEnv := registryFlags(fs)
	dsn := dsnFlag(e, fs)
	table := fs.String("table", "", "table (optionally schema-qualified)")
	idCol := fs.String("id-column", "id", "primary-key column; its text form is the row ID the data was sealed for")
	column := fs.String("column", "", "encrypted column (declared in the registry document)")
	batch := fs.Int("batch", 2000, "rows per batch")
	restart := fs.Bool("restart", false, "ignore a saved checkpoint and start from the first row")
	jsonOut := fs.Bool("json", false, "print the result as JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *dsn == "" || *table == "" || *column == "" || *idCol == "" {
		return usageErr("--dsn, --table and --column are required")
	}
	_, d, err := loadRegistry(ctx, e, *file, *kekEnv)
	if err != nil {
		return err
	}
	ring, err := keyring.New(d)
	if err != nil {
		return operational(err)
	}
	if err := blindIndexHint(d, *table, *column); err != nil {
		return err
	}
	field := ring.Field(*table, *column)
	if err := field.Err(); err != nil {
		return usageErr("%v (declare it in the registry document's columns)", err)
	}
	pool, store, opts, err := startColumnJob(ctx, e, *dsn, d, *table, *column, *batch, *restart)
	if err != nil {
		return err
	}
	defer pool.Close()
	res, err := field.Reencrypt(ctx, pgstore.NewColumn(pool, *table, *idCol, *column), opts)
	if e.stderrIsTerminal {
		fmt.Fprintln(e.stderr)
	}
	if err != nil {
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
		return writeJSON(e.stdout, newReencryptReport(*table, *column, res))
	}
	fmt.Fprintf(e.stdout, "%s.%s: %d rows scanned, %d re-encrypted, %d already current, %d changed meanwhile (already under the primary key)\n",
		*table, *column, res.Scanned, res.Rewritten, res.Current, res.Conflicts)
	return nil
}

func keysCheck(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "keys check", "keys check --file FILE [--kek-env VAR] [--dsn URL [--sample N]] [--json]")
	file, kekEnv := registryFlags(fs)
	dsn := fs.String("dsn", "", "PostgreSQL URL: also scan the stored data of every declared column, and open a sample of it per key ID")
	sample := fs.Int("sample", keyring.DefaultSample, "with --dsn: stored values to open per key ID and column (0: none)")
	jsonOut := fs.Bool("json", false, "print the report as JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	_, d, err := loadRegistry(ctx, e, *file, *kekEnv)
	if err != nil {
		return err
	}
	if *sample < 0 {
		return usageErr("--sample must be 0 or more")
	}
	opts := keyring.CheckOptions{Sample: *sample}
	if *sample == 0 {
		opts.Sample = -1 // no sampling
	}
	if *dsn != "" {
		pool, err := connect(ctx, *dsn)
		if err != nil {
			return err
		}
		defer pool.Close()
		if opts.Counter, err = keysCounter(pool, d); err != nil {
			return operational(err)
		}
	}
	rep, err := keyring.Check(ctx, d, opts)
	if err != nil {
		return operational(err)
	}
	if *jsonOut {
		if err := json.NewEncoder(e.stdout).Encode(rep); err != nil {
			return operational(err)
		}
	} else {
		for _, k := range d.Keys {
			fmt.Fprintf(e.stdout, "key %d\t%s\t%s\tkcv %s\n", k.ID, k.Scope, k.Status, k.CheckValue())
		}
		for _, c := range rep.Counts {
			fmt.Fprintf(e.stdout, "%s.%s\tkey %d\t%s\t%d\n", c.Table, c.Column, c.KeyID, c.Status, c.Count)
		}
		for _, s := range rep.Sampled {
			if s.Skipped != "" {
				fmt.Fprintf(e.stdout, "%s.%s\tkey %d\tnot sampled: %s\n", s.Table, s.Column, s.KeyID, s.Skipped)
				continue
			}
			fmt.Fprintf(e.stdout, "%s.%s\tkey %d\tsampled %d, opened %d\n", s.Table, s.Column, s.KeyID, s.Opened+s.Failed, s.Opened)
		}
		for _, f := range rep.Findings {
			fmt.Fprintf(e.stdout, "FAIL %s: %s\n", f.Kind, f.Message)
		}
		if rep.OK {
			fmt.Fprintln(e.stdout, "ok: "+strconv.Itoa(len(d.Scopes()))+" scopes, "+strconv.Itoa(len(d.Columns))+" declared columns")
		}
	}
	if !rep.OK {
		return findings("%d findings", len(rep.Findings))
	}
	return nil
}
