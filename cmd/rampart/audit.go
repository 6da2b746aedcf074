package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/mod/sumdb/note"

	"github.com/rampart-sdk/rampart/auditlog"
	"github.com/rampart-sdk/rampart/auditlog/pgstore"
)

func auditGroup() group {
	return group{
		name:    "audit",
		summary: "the hash-chained audit log and its signed checkpoints",
		verbs: []verb{
			{name: "verify", summary: "verify a live chain (--dsn) or an export file (--file)", run: auditVerify},
			{name: "export", summary: "export entries with proofs and a signed checkpoint", run: auditExport},
			{name: "keygen", summary: "generate an Ed25519 checkpoint signing key pair", run: auditKeygen},
			{name: "chains", summary: "list the chains of the audit log and their sizes", run: auditChains},
		},
	}
}

// keyArg reads a key given as a path to a file holding it, or inline. A
// note key is "name+hash+base64" (a signing key "PRIVATE+KEY+name+..."), so
// a value with fewer than two '+' is taken as a path, and a path that cannot
// be read is reported as such rather than parsed as a malformed key.
func keyArg(flagName, v string) (string, error) {
	b, err := os.ReadFile(v)
	if err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	if _, statErr := os.Stat(v); statErr == nil || strings.Count(v, "+") < 2 {
		return "", operational(fmt.Errorf("%s: read key file: %w", flagName, err))
	}
	return v, nil
}

func openStore(ctx context.Context, dsn string) (*pgxpool.Pool, pgstore.Store, error) {
	pool, err := connect(ctx, dsn)
	if err != nil {
		return nil, nil, err
	}
	return pool, pgstore.New(pool), nil
}

// verifierArg turns --public-key (inline or a file) into verifiers; nil
// when the flag is empty.
func verifierArg(pub string) (note.Verifiers, error) {
	if pub == "" {
		return nil, nil
	}
	k, err := keyArg("--public-key", pub)
	if err != nil {
		return nil, err
	}
	v, err := note.NewVerifier(k)
	if err != nil {
		return nil, usageErr("--public-key: %v", err)
	}
	return pinnedVerifiers{Verifiers: note.VerifierList(v), keys: []note.Verifier{v}}, nil
}

// pinnedVerifiers are the verifiers an operator passed, remembered so that a
// note signed by some other key can be reported as such.
type pinnedVerifiers struct {
	note.Verifiers
	keys []note.Verifier
}

// keyID names a note key as "name+hash", the prefix of its verifier key.
func keyID(name string, hash uint32) string { return fmt.Sprintf("%s+%08x", name, hash) }

// differentKey explains why data, a concatenation of signed notes that did
// not verify, failed when a note carries no signature by the pinned keys,
// only by others: a wrong --public-key (or notes signed under someone
// else's key), not a signature that fails, so the error names the key found
// and the key expected. It returns nil when the failure is something else (a
// bad signature by the expected key, a malformed note).
func differentKey(data []byte, verifiers note.Verifiers) error {
	for i, msg := range auditlog.SplitNotes(data) {
		_, err := note.Open(msg, verifiers)
		var ue *note.UnverifiedNoteError
		if !errors.As(err, &ue) {
			continue
		}
		found := make([]string, 0, len(ue.Note.UnverifiedSigs))
		for _, sig := range ue.Note.UnverifiedSigs {
			found = append(found, keyID(sig.Name, sig.Hash))
		}
		var want []string
		if pv, ok := verifiers.(pinnedVerifiers); ok {
			for _, k := range pv.keys {
				want = append(want, keyID(k.Name(), k.KeyHash()))
			}
		}
		if len(found) == 0 {
			return fmt.Errorf("checkpoint %d carries no signature", i+1)
		}
		msg := fmt.Sprintf("checkpoint %d is signed by a different key: signed by %s", i+1, strings.Join(found, ", "))
		if len(want) > 0 {
			msg += ", --public-key is " + strings.Join(want, ", ")
		}
		return errors.New(msg)
	}
	return nil
}

// loadCheckpoints reads signed checkpoints saved outside the database and
// checks their signatures; none when path is empty.
func loadCheckpoints(path string, verifiers note.Verifiers) ([]auditlog.Checkpoint, error) {
	if path == "" {
		return nil, nil
	}
	if verifiers == nil {
		return nil, usageErr("--checkpoints needs --public-key")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, operational(err)
	}
	cps, err := auditlog.ReadCheckpoints(data, verifiers)
	if err != nil {
		if dk := differentKey(data, verifiers); dk != nil {
			return nil, findings("checkpoints %s: %v", path, dk)
		}
		return nil, findings("checkpoints: %v", err)
	}
	return cps, nil
}

type chainReport struct {
	Chain       string         `json:"chain"`
	OK          bool           `json:"ok"`
	Size        uint64         `json:"size"`
	Checked     uint64         `json:"checked"`
	Checkpoints int            `json:"checkpoints"`
	Failure     *failureReport `json:"failure,omitempty"`
}

type failureReport struct {
	Seq    uint64 `json:"seq"`
	Reason string `json:"reason"`
	Detail string `json:"detail"`
}

type verifyReport struct {
	OK      bool          `json:"ok"`
	Source  string        `json:"source"`
	Chains  []chainReport `json:"chains,omitempty"`
	Entries int           `json:"entries,omitempty"`
	Failure *struct {
		Chain string `json:"chain"`
		failureReport
	} `json:"failure,omitempty"`
	Warning string `json:"warning,omitempty"`
	// ExportChains describes each chain of a verified export file.
	ExportChains []auditlog.ExportChainReport `json:"export_chains,omitempty"`
	// Filter is the filter an export file records, as audit export flags.
	Filter string `json:"filter,omitempty"`
}

func auditVerify(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "audit verify", "audit verify (--dsn DSN [--chain C] | --file EXPORT) [--checkpoints FILE --public-key KEY] [--json]")
	dsn := dsnFlag(e, fs)
	chain := fs.String("chain", "", "verify only this chain (default: every chain)")
	cpFile := fs.String("checkpoints", "", "file of signed checkpoints saved outside the database")
	pub := fs.String("public-key", "", "checkpoint verifier key, inline or a file holding it")
	file := fs.String("file", "", "verify an export file offline instead of a database")
	asJSON := fs.Bool("json", false, "print a JSON report")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErr("unexpected argument %q", fs.Arg(0))
	}
	verifiers, err := verifierArg(*pub)
	if err != nil {
		return err
	}
	cps, err := loadCheckpoints(*cpFile, verifiers)
	if err != nil {
		return err
	}
	if *file != "" {
		return verifyFile(e, *file, verifiers, cps, *asJSON)
	}
	pool, store, err := openStore(ctx, *dsn)
	if err != nil {
		return err
	}
	defer pool.Close()
	stored, err := store.Chains(ctx)
	if err != nil {
		return operational(err)
	}
	chains := []string{*chain}
	if *chain != "" && !slices.Contains(stored, *chain) && !checkpointsName(cps, *chain) {
		// A typo must not pass a scheduled verify as "ok: 0 entries". A
		// chain named by a saved checkpoint is verified (and fails) instead:
		// its rows were there once.
		return findings("chain %q does not exist in this database (%d chains do); list them with: rampart audit chains", *chain, len(stored))
	}
	if *chain == "" {
		chains = stored
		seen := map[string]bool{}
		for _, c := range chains {
			seen[c] = true
		}
		for _, cp := range cps {
			if !seen[cp.Chain] {
				seen[cp.Chain] = true
				chains = append(chains, cp.Chain)
			}
		}
		sort.Strings(chains)
	}
	rep := verifyReport{OK: true, Source: "database"}
	for _, c := range chains {
		opts := auditlog.VerifyOptions{Checkpoints: cps}
		if e.stderrIsTerminal {
			opts.Progress = progress(e.stderr, c, time.Now())
		}
		res, err := auditlog.Verify(ctx, store, c, opts)
		if opts.Progress != nil {
			fmt.Fprint(e.stderr, "\r\033[K")
		}
		cr := chainReport{Chain: c, OK: err == nil, Size: res.Size, Checked: res.Checked, Checkpoints: res.Checkpoints}
		var ve *auditlog.VerifyError
		switch {
		case errors.As(err, &ve):
			cr.Failure = &failureReport{Seq: ve.Seq, Reason: string(ve.Reason), Detail: ve.Detail}
			rep.OK = false
		case err != nil:
			return operational(err)
		}
		rep.Chains = append(rep.Chains, cr)
	}
	if *asJSON {
		if err := writeJSON(e.stdout, rep); err != nil {
			return operational(err)
		}
	} else {
		for _, c := range rep.Chains {
			if c.OK {
				fmt.Fprintf(e.stdout, "ok      %s: %d entries, %d checkpoints matched\n", c.Chain, c.Size, c.Checkpoints)
			} else {
				fmt.Fprintf(e.stdout, "BROKEN  %s: entry %d: %s: %s\n", c.Chain, c.Failure.Seq, c.Failure.Reason, c.Failure.Detail)
			}
		}
		if len(rep.Chains) == 0 {
			fmt.Fprintln(e.stdout, "no chains")
		}
	}
	if !rep.OK {
		return findings("audit log does not verify")
	}
	return nil
}

// checkpointsName reports whether a saved checkpoint names chain.
func checkpointsName(cps []auditlog.Checkpoint, chain string) bool {
	for _, cp := range cps {
		if cp.Chain == chain {
			return true
		}
	}
	return false
}

// auditChains lists the chains of the audit log, one a line, with their
// sizes, so an operator can find the exact name to pass to --chain.
func auditChains(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "audit chains", "audit chains [--dsn URL] [--json]")
	dsn := dsnFlag(e, fs)
	asJSON := fs.Bool("json", false, "print the chains as JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErr("unexpected argument %q", fs.Arg(0))
	}
	pool, store, err := openStore(ctx, *dsn)
	if err != nil {
		return err
	}
	defer pool.Close()
	names, err := store.Chains(ctx)
	if err != nil {
		return operational(err)
	}
	sort.Strings(names)
	type chainSize struct {
		Chain   string `json:"chain"`
		Entries uint64 `json:"entries"`
	}
	out := make([]chainSize, 0, len(names))
	for _, c := range names {
		h, err := store.Head(ctx, c)
		if err != nil {
			return operational(err)
		}
		out = append(out, chainSize{Chain: c, Entries: h.Size})
	}
	if *asJSON {
		if err := writeJSON(e.stdout, out); err != nil {
			return operational(err)
		}
		return nil
	}
	for _, c := range out {
		fmt.Fprintf(e.stdout, "%s\t%d entries\n", c.Chain, c.Entries)
	}
	if len(out) == 0 {
		fmt.Fprintln(e.stdout, "no chains")
	}
	return nil
}

// verifyFile verifies an export file offline, against the saved
// checkpoints cps when given.
func verifyFile(e *env, path string, verifiers note.Verifiers, cps []auditlog.Checkpoint, asJSON bool) error {
	f, err := os.Open(path)
	if err != nil {
		return operational(err)
	}
	defer f.Close()
	rep := verifyReport{OK: true, Source: "file"}
	fail := func(err error) error {
		if asJSON {
			rep.OK, rep.Warning = false, err.Error()
			_ = writeJSON(e.stdout, rep) // the finding below is the error that matters
		}
		return findings("%v", err)
	}
	doc, err := auditlog.ParseExport(f)
	if err != nil {
		return fail(err)
	}
	if verifiers == nil {
		v, err := note.NewVerifier(doc.VerifierKey)
		if err != nil {
			return usageErr("the export names no usable key; pass --public-key")
		}
		verifiers = note.VerifierList(v)
		rep.Warning = "checkpoint signatures were checked against the key named in the export itself; pass --public-key to pin it"
		fmt.Fprintln(e.stderr, "warning: "+rep.Warning)
	}
	res, err := auditlog.VerifyExport(doc, auditlog.ExportVerifyOptions{Verifiers: verifiers, Checkpoints: cps})
	rep.Entries, rep.ExportChains = res.Entries, res.Chains
	rep.Filter = exportFilterString(doc.Filter)
	var ve *auditlog.VerifyError
	switch {
	case errors.As(err, &ve):
		rep.OK = false
		rep.Failure = &struct {
			Chain string `json:"chain"`
			failureReport
		}{ve.Chain, failureReport{Seq: ve.Seq, Reason: string(ve.Reason), Detail: ve.Detail}}
	case err != nil:
		return fail(err)
	}
	if asJSON {
		if err := writeJSON(e.stdout, rep); err != nil {
			return operational(err)
		}
	} else if rep.OK {
		for _, c := range res.Chains {
			span := "no entries"
			if c.Entries > 0 {
				span = fmt.Sprintf("%d entries, seq %d to %d", c.Entries, c.First, c.Last)
			}
			fmt.Fprintf(e.stdout, "ok      %s: %s of %d (%d between them left out by the filter), %d saved checkpoints matched\n",
				c.Chain, span, c.Size, c.FilteredOut, c.Checkpoints)
		}
		filter := "unfiltered"
		if rep.Filter != "" {
			filter = "filter " + rep.Filter
		}
		ignored := ""
		if res.IgnoredCheckpoints > 0 {
			ignored = fmt.Sprintf(" (%d of chains outside the export ignored)", res.IgnoredCheckpoints)
		}
		fmt.Fprintf(e.stdout, "ok      %d entries in %d chain(s) (%s) verify against their signed checkpoints and the signed manifest; %d saved checkpoints matched%s\n",
			rep.Entries, len(res.Chains), filter, res.SavedCheckpoints, ignored)
	} else {
		fmt.Fprintf(e.stdout, "BROKEN  %s: entry %d: %s: %s\n", ve.Chain, ve.Seq, ve.Reason, ve.Detail)
	}
	if !rep.OK {
		return findings("export does not verify")
	}
	return nil
}

// exportFilterString prints an export's filter as the flags that make it.
func exportFilterString(f auditlog.Filter) string {
	var parts []string
	for _, kv := range []struct{ k, v string }{{"--org", f.Org}, {"--actor", f.Actor}, {"--action", f.Action}, {"--target", f.Target}} {
		if kv.v != "" {
			parts = append(parts, fmt.Sprintf("%s %q", kv.k, kv.v))
		}
	}
	for _, kv := range []struct {
		k string
		t time.Time
	}{{"--from", f.From}, {"--to", f.To}} {
		if !kv.t.IsZero() {
			parts = append(parts, kv.k+" "+kv.t.UTC().Format(time.RFC3339Nano))
		}
	}
	return strings.Join(parts, " ")
}

func auditExport(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "audit export", "audit export --dsn DSN --signing-key KEY [--org O] [--actor A] [--action X] [--target T] [--from RFC3339] [--to RFC3339] [--format csv|json|ndjson] [--checkpoints FILE --public-key KEY] [--out FILE]")
	dsn := dsnFlag(e, fs)
	skey := fs.String("signing-key", e.getenv("RAMPART_AUDIT_SIGNING_KEY"), "checkpoint signing key, inline or a file (default $RAMPART_AUDIT_SIGNING_KEY)")
	pub := fs.String("public-key", "", "verifier key to name in the export header (a hint for the reader)")
	format := fs.String("format", "ndjson", "csv, json or ndjson")
	out := fs.String("out", "", "write to this file instead of stdout")
	cpFile := fs.String("checkpoints", "", "file of saved checkpoints: the export carries a consistency proof from each, so a filtered export can be checked against them")
	var f auditlog.Filter
	fs.StringVar(&f.Org, "org", "", "only this organisation")
	fs.StringVar(&f.Actor, "actor", "", "only this actor (user:<id>, apikey:<id>, system:<source>)")
	fs.StringVar(&f.Action, "action", "", "only this action")
	fs.StringVar(&f.Target, "target", "", "only this target (<type>:<id>)")
	from := fs.String("from", "", "only entries at or after this time (RFC 3339)")
	to := fs.String("to", "", "only entries before this time (RFC 3339)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	for _, tf := range []struct {
		s   string
		dst *time.Time
		nm  string
	}{{*from, &f.From, "--from"}, {*to, &f.To, "--to"}} {
		if tf.s == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339, tf.s)
		if err != nil {
			return usageErr("%s: %v", tf.nm, err)
		}
		*tf.dst = t
	}
	switch auditlog.Format(*format) {
	case auditlog.FormatCSV, auditlog.FormatJSON, auditlog.FormatNDJSON:
	default:
		return usageErr("--format must be csv, json or ndjson")
	}
	if *skey == "" {
		return usageErr("--signing-key (or RAMPART_AUDIT_SIGNING_KEY) is required: the export carries a signed checkpoint")
	}
	k, err := keyArg("--signing-key", *skey)
	if err != nil {
		return err
	}
	signer, err := note.NewSigner(k)
	if err != nil {
		return usageErr("--signing-key: %v (want the PRIVATE+KEY+... line that rampart audit keygen writes to PREFIX.key)", err)
	}
	vkey := ""
	if *pub != "" {
		if vkey, err = keyArg("--public-key", *pub); err != nil {
			return err
		}
	}
	verifiers, err := verifierArg(*pub)
	if err != nil {
		return err
	}
	saved, err := loadCheckpoints(*cpFile, verifiers)
	if err != nil {
		return err
	}
	pool, store, err := openStore(ctx, *dsn)
	if err != nil {
		return err
	}
	defer pool.Close()
	var w io.Writer = e.stdout
	if *out != "" {
		fh, err := os.OpenFile(*out, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
		if err != nil {
			return operational(err)
		}
		defer fh.Close()
		w = fh
	}
	n, err := auditlog.Export(ctx, store, w, auditlog.ExportOptions{Format: auditlog.Format(*format), Filter: f, Signer: signer, VerifierKey: vkey, Checkpoints: saved})
	if err != nil {
		return operational(err)
	}
	fmt.Fprintf(e.stderr, "exported %d entries\n", n)
	return nil
}

func auditKeygen(_ context.Context, e *env, args []string) error {
	fs := newFlags(e, "audit keygen", "audit keygen [--name NAME] --out PREFIX [--force]")
	name := fs.String("name", "rampart-audit", "key name shown in signatures")
	out := fs.String("out", "", "write PREFIX.key (secret, mode 0600) and PREFIX.pub (public); the public key is also printed")
	force := fs.Bool("force", false, "overwrite an existing key pair (checkpoints signed by the old key then no longer verify against the new one)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *out == "" {
		return usageErr("--out is required: the signing key is never printed")
	}
	skey, vkey, err := auditlog.NewSigningKey(*name)
	if err != nil {
		return usageErr("%v", err)
	}
	// Replacing a signing key silently would orphan every checkpoint it
	// signed: refuse, as keys init does, unless asked.
	if !*force {
		for _, p := range []string{*out + ".key", *out + ".pub"} {
			if _, err := os.Lstat(p); err == nil {
				return operational(fmt.Errorf("%s exists; refusing to overwrite a signing key pair (pass --force to replace it)", p))
			}
		}
	}
	flags := os.O_CREATE | os.O_WRONLY | os.O_TRUNC
	if !*force {
		flags = os.O_CREATE | os.O_WRONLY | os.O_EXCL // a file created meanwhile is not overwritten either
	}
	if err := writeFileFlags(*out+".key", []byte(skey+"\n"), flags, 0o600); err != nil {
		return operational(err)
	}
	if err := writeFileFlags(*out+".pub", []byte(vkey+"\n"), flags, 0o644); err != nil {
		return operational(err)
	}
	fmt.Fprintln(e.stdout, vkey)
	return nil
}

// writeFileFlags writes data to path opened with flag and perm, and syncs it.
func writeFileFlags(path string, data []byte, flag int, perm os.FileMode) error {
	f, err := os.OpenFile(path, flag, perm)
	if err != nil {
		return err
	}
	if err := f.Chmod(perm); err != nil { // an overwritten file keeps its old mode otherwise
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// progress draws "chain: done/total entries, rate, ETA" on one terminal line.
func progress(w io.Writer, chain string, start time.Time) func(done, total uint64) {
	return func(done, total uint64) {
		elapsed := time.Since(start).Seconds()
		rate := float64(done) / max(elapsed, 1e-9)
		eta := "?"
		if rate > 0 && total >= done {
			eta = (time.Duration(float64(total-done)/rate) * time.Second).Round(time.Second).String()
		}
		fmt.Fprintf(w, "\r\033[Kverifying %s: %d/%d entries, %.0f/s, ETA %s", chain, done, total, rate, eta)
	}
}
