package main

// Operator flows of the CLI: what a tired operator types wrong, and what the
// CLI must answer (message and exit code).

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/compliance"
	"github.com/rampart-sdk/rampart/internal/pgtest"
)

func TestAuditKeygenRefusesToOverwrite(t *testing.T) {
	t.Parallel()
	prefix := filepath.Join(t.TempDir(), "audit")
	code, first, stderr := runCLI(t, nil, "audit", "keygen", "--out", prefix)
	require.Equal(t, exitOK, code, stderr)
	key, err := os.ReadFile(prefix + ".key")
	require.NoError(t, err)

	code, stdout, stderr := runCLI(t, nil, "audit", "keygen", "--out", prefix)
	require.Equal(t, exitOperational, code)
	require.Empty(t, stdout)
	require.Contains(t, stderr, prefix+".key exists; refusing to overwrite a signing key pair (pass --force to replace it)")
	again, err := os.ReadFile(prefix + ".key")
	require.NoError(t, err)
	require.Equal(t, key, again, "the existing key must be untouched")

	// Only the public half left behind is still refused.
	require.NoError(t, os.Remove(prefix+".key"))
	code, _, stderr = runCLI(t, nil, "audit", "keygen", "--out", prefix)
	require.Equal(t, exitOperational, code)
	require.Contains(t, stderr, prefix+".pub exists")
	require.NoFileExists(t, prefix+".key")

	code, second, stderr := runCLI(t, nil, "audit", "keygen", "--out", prefix, "--force")
	require.Equal(t, exitOK, code, stderr)
	require.NotEqual(t, first, second)
	pub, err := os.ReadFile(prefix + ".pub")
	require.NoError(t, err)
	require.Equal(t, second, string(pub))
	fi, err := os.Stat(prefix + ".key")
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
}

func TestAuditVerifyUnknownChain(t *testing.T) {
	t.Parallel()
	db, _ := auditFixture(t)
	for _, args := range [][]string{
		{"audit", "verify", "--dsn", db.URL, "--chain", "nosuch"},
		{"audit", "verify", "--dsn", db.URL, "--chain", "org:acme ", "--json"},
	} {
		code, stdout, stderr := runCLI(t, nil, args...)
		require.Equal(t, exitFindings, code, "%v", args)
		require.NotContains(t, stdout, "ok ")
		require.Contains(t, stderr, fmt.Sprintf("chain %q does not exist in this database (2 chains do); list them with: rampart audit chains", args[5]))
	}

	code, stdout, stderr := runCLI(t, nil, "audit", "chains", "--dsn", db.URL)
	require.Equal(t, exitOK, code, stderr)
	require.Equal(t, "org:acme\t5 entries\norg:globex\t5 entries\n", stdout)
	code, stdout, _ = runCLI(t, nil, "audit", "chains", "--dsn", db.URL, "--json")
	require.Equal(t, exitOK, code)
	require.JSONEq(t, `[{"chain":"org:acme","entries":5},{"chain":"org:globex","entries":5}]`, stdout)

	code, _, stderr = runCLI(t, nil, "audit", "verify", "--dsn", db.URL, "--chain", "org:acme")
	require.Equal(t, exitOK, code, stderr)
}

// TestHelpListsExactlyTheVerbs reads the verbs off the top-level help as an
// operator would, and requires each to dispatch, and every verb that
// dispatches to be listed.
func TestHelpListsExactlyTheVerbs(t *testing.T) {
	t.Parallel()
	code, help, _ := runCLI(t, nil, "help")
	require.Equal(t, exitOK, code)
	listed := map[string][]string{}
	for _, line := range strings.Split(help, "\n") {
		fields := strings.Fields(line)
		if len(fields) < 2 || !strings.HasPrefix(line, "  ") {
			continue
		}
		if _, ok := findGroup(fields[0]); !ok {
			continue
		}
		_, verbs, found := strings.Cut(strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), fields[0])), ": ")
		listed[fields[0]] = nil
		if found {
			listed[fields[0]] = strings.Split(verbs, ", ")
		}
	}
	require.Len(t, listed, len(groups()), help)
	for _, g := range groups() {
		names, ok := listed[g.name]
		require.True(t, ok, "group %s missing from help", g.name)
		var want []string
		for _, v := range g.verbs {
			want = append(want, v.name)
		}
		require.Equal(t, want, names, "verbs of %s", g.name)
		for _, v := range names {
			code, _, stderr := runCLI(t, nil, g.name, v, "--help")
			require.Equal(t, exitOK, code, "%s %s --help: %s", g.name, v, stderr)
			require.NotContains(t, stderr, "unknown command")
		}
		_, groupHelp, _ := runCLI(t, nil, g.name, "--help")
		for _, v := range g.verbs {
			require.Regexp(t, regexp.MustCompile(`(?m)^  `+regexp.QuoteMeta(v.name)+` `), groupHelp, "%s --help lists %s", g.name, v.name)
		}
	}
	// The verbs issue 17 found misreported.
	require.Contains(t, listed["audit"], "keygen")
	require.NotContains(t, listed["audit"], "checkpoint")
	require.NotContains(t, listed["privacy"], "export")
}

func TestBadFlagErrorPrintedOnce(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"audit", "verify", "--nope"},
		{"doctor", "--nope"},
		{"privacy", "sweep", "--nope"},
		{"migrate", "up", "--nope"},
	} {
		code, stdout, stderr := runCLI(t, nil, args...)
		require.Equal(t, exitUsage, code, "%v", args)
		require.Empty(t, stdout)
		require.Equal(t, 1, strings.Count(stderr, "flag provided but not defined: -nope"), "%v: %s", args, stderr)
		require.Contains(t, stderr, "Usage: rampart "+args[0])
		require.Contains(t, stderr, "-dsn", "the flags are still listed")
	}
	// --help still prints every flag.
	code, _, stderr := runCLI(t, nil, "privacy", "sweep", "--help")
	require.Equal(t, exitOK, code)
	require.Contains(t, stderr, "-grace")
}

func TestKeyFileErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	missing := filepath.Join(dir, "nosuchfile")
	code, _, stderr := runCLI(t, nil, "audit", "export", "--dsn", "postgres://x@127.0.0.1:1/x", "--signing-key", missing)
	require.Equal(t, exitOperational, code)
	require.Contains(t, stderr, "--signing-key: read key file: open "+missing+": no such file or directory")
	require.NotContains(t, stderr, "not a note signing key")

	code, _, stderr = runCLI(t, nil, "audit", "verify", "--dsn", "postgres://x@127.0.0.1:1/x", "--public-key", "audit.pub")
	require.Equal(t, exitOperational, code)
	require.Contains(t, stderr, "--public-key: read key file: open audit.pub: no such file or directory")

	// A file that exists but holds no key says what it wants.
	junk := filepath.Join(dir, "junk")
	require.NoError(t, os.WriteFile(junk, []byte("hello\n"), 0o600))
	code, _, stderr = runCLI(t, nil, "audit", "export", "--dsn", "postgres://x@127.0.0.1:1/x", "--signing-key", junk)
	require.Equal(t, exitUsage, code)
	require.Contains(t, stderr, "PRIVATE+KEY+")

	// A public key given where the signing key belongs is refused without echoing it.
	code, stdout, stderr := runCLI(t, nil, "audit", "keygen", "--out", filepath.Join(dir, "a"))
	require.Equal(t, exitOK, code, stderr)
	code, _, stderr = runCLI(t, nil, "audit", "export", "--dsn", "postgres://x@127.0.0.1:1/x", "--signing-key", strings.TrimSpace(stdout))
	require.Equal(t, exitUsage, code)
	require.Contains(t, stderr, "--signing-key: ")
}

func TestCheckpointsSignedByAnotherKey(t *testing.T) {
	t.Parallel()
	db, dir := auditFixture(t)
	code, other, stderr := runCLI(t, nil, "audit", "keygen", "--name", "someone-else", "--out", filepath.Join(dir, "other"))
	require.Equal(t, exitOK, code, stderr)
	right, err := os.ReadFile(filepath.Join(dir, "audit.pub"))
	require.NoError(t, err)
	keyHashOf := func(vkey string) string { // name+hash: the first two fields of a verifier key
		f := strings.SplitN(strings.TrimSpace(vkey), "+", 3)
		return f[0] + "+" + f[1]
	}
	code, _, stderr = runCLI(t, nil, "audit", "verify", "--dsn", db.URL,
		"--checkpoints", filepath.Join(dir, "checkpoints"), "--public-key", filepath.Join(dir, "other.pub"))
	require.Equal(t, exitFindings, code)
	require.Contains(t, stderr, "checkpoint 1 is signed by a different key: signed by "+keyHashOf(string(right))+", --public-key is "+keyHashOf(other))
	require.NotContains(t, stderr, "no verifiable signatures")

	// A forged signature by the pinned key is still reported as such, not as another key.
	data, err := os.ReadFile(filepath.Join(dir, "checkpoints"))
	require.NoError(t, err)
	forged := filepath.Join(dir, "forged")
	require.NoError(t, os.WriteFile(forged, bytes.Replace(data, []byte("\n"), []byte("x\n"), 1), 0o600))
	code, _, stderr = runCLI(t, nil, "audit", "verify", "--dsn", db.URL, "--checkpoints", forged, "--public-key", filepath.Join(dir, "audit.pub"))
	require.Equal(t, exitFindings, code)
	require.NotContains(t, stderr, "different key")
}

func TestComplianceStaleEvidenceAge(t *testing.T) {
	t.Parallel()
	m, err := compliance.NewMatrix(compliance.CCPACatalog(), compliance.WithClock(func() time.Time { return time.Now().Add(-7*time.Minute - 3*time.Second) }))
	require.NoError(t, err)
	for slot := range m.Slots() {
		require.NoError(t, m.Fill(slot, func(context.Context) compliance.CheckResult { return compliance.CheckResult{Pass: true} }))
	}
	var buf bytes.Buffer
	require.NoError(t, m.Evaluate(context.Background()).WriteJSON(&buf))
	p := filepath.Join(t.TempDir(), "report.json")
	require.NoError(t, os.WriteFile(p, buf.Bytes(), 0o600))
	code, _, stderr := runCLI(t, nil, "compliance", "report", "--evidence", p, "--max-age", "5s")
	require.Equal(t, exitFindings, code)
	m2 := regexp.MustCompile(`was generated (\S+) ago, more than --max-age 5s`).FindStringSubmatch(stderr)
	require.NotNil(t, m2, stderr)
	age, err := time.ParseDuration(m2[1])
	require.NoError(t, err)
	require.GreaterOrEqual(t, age, 7*time.Minute+3*time.Second, "the real age, not rounded down: %s", stderr)
	require.Less(t, age, 8*time.Minute, stderr)

	// An age just over the limit is never printed as the limit itself.
	m, err = compliance.NewMatrix(compliance.CCPACatalog(), compliance.WithClock(func() time.Time { return time.Now().Add(-6 * time.Second) }))
	require.NoError(t, err)
	buf.Reset()
	require.NoError(t, m.Evaluate(context.Background()).WriteJSON(&buf))
	require.NoError(t, os.WriteFile(p, buf.Bytes(), 0o600))
	code, _, stderr = runCLI(t, nil, "compliance", "report", "--evidence", p, "--max-age", "5s")
	require.Equal(t, exitFindings, code)
	require.NotContains(t, stderr, "generated 0s ago")
	require.NotContains(t, stderr, "generated 5s ago")
}

func TestRoundAge(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want time.Duration }{
		{300 * time.Millisecond, 300 * time.Millisecond},
		{1500 * time.Microsecond, 2 * time.Millisecond},
		{5*time.Second + 200*time.Millisecond, 6 * time.Second}, // never "5s ago, more than 5s"
		{7*time.Minute + 3*time.Second, 7*time.Minute + 3*time.Second},
		{7*time.Minute + 3*time.Second + time.Nanosecond, 7*time.Minute + 4*time.Second},
		{2*time.Hour + 30*time.Second, 2*time.Hour + time.Minute},
		{240 * time.Hour, 240 * time.Hour},
		{240*time.Hour + time.Minute, 241 * time.Hour},
	} {
		require.Equal(t, tc.want, roundAge(tc.in), tc.in.String())
		require.GreaterOrEqual(t, roundAge(tc.in), tc.in)
	}
}

// TestUnmigratedDatabase runs commands against an empty schema: each names
// the migrate command to run instead of PostgreSQL's raw error.
func TestUnmigratedDatabase(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	for _, tc := range []struct {
		args      []string
		component string
	}{
		{[]string{"audit", "verify"}, "auditlog"},
		{[]string{"audit", "chains"}, "auditlog"},
		{[]string{"compliance", "jobs"}, "compliance"},
		{[]string{"privacy", "requests", "overdue"}, "privacy"},
	} {
		code, _, stderr := runCLI(t, map[string]string{"DATABASE_URL": db.URL}, tc.args...)
		require.Equal(t, exitOperational, code, "%v: %s", tc.args, stderr)
		require.Contains(t, stderr, "the "+tc.component+" schema is not migrated", tc.args)
		require.Contains(t, stderr, "run: rampart migrate up --only "+tc.component, tc.args)
		require.NotContains(t, stderr, "SQLSTATE", tc.args)
	}
}

func TestExplainUndefinedTable(t *testing.T) {
	t.Parallel()
	pe := &pgconn.PgError{Code: "42P01", Message: `relation "app.keyring_reencrypt_checkpoints" does not exist`}
	err := explainUndefinedTable(operational(fmt.Errorf("load checkpoint: %w", pe)))
	var ute *undefinedTableError
	require.ErrorAs(t, err, &ute)
	require.Equal(t, "keyring_reencrypt_checkpoints", ute.Table)
	require.Equal(t, "keyring", ute.Component)
	require.ErrorIs(t, err, pe)
	e := &env{stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}}
	require.Equal(t, exitOperational, report(e, "x", err), "the exit code of the wrapped error is kept")

	other := &pgconn.PgError{Code: "42P01", Message: `relation "orders" does not exist`}
	require.Contains(t, explainUndefinedTable(other).Error(), `table "orders" does not exist in the database's search_path`)

	plain := errors.New("boom")
	require.Equal(t, plain, explainUndefinedTable(plain))
	unique := &pgconn.PgError{Code: "23505"}
	require.Equal(t, error(unique), explainUndefinedTable(unique))
}
