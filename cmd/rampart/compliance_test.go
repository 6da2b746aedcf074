package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	auditpg "github.com/rampart-sdk/rampart/auditlog/pgstore"
	"github.com/rampart-sdk/rampart/compliance"
	"github.com/rampart-sdk/rampart/compliance/monitor"
	"github.com/rampart-sdk/rampart/compliance/pgstore"
	"github.com/rampart-sdk/rampart/internal/pgtest"
)

// writeReport evaluates the GDPR catalog with every check passing except
// those in failing, and writes the JSON report to a temp file.
func writeReport(t *testing.T, failing ...string) string {
	t.Helper()
	m, err := compliance.NewMatrix(compliance.GDPRCatalog())
	require.NoError(t, err)
	for slot := range m.Slots() {
		require.NoError(t, m.Fill(slot, func(context.Context) compliance.CheckResult { return compliance.CheckResult{Pass: true, Details: "ok"} }))
	}
	for _, slot := range failing {
		require.NoError(t, m.Fill(slot, func(context.Context) compliance.CheckResult {
			return compliance.CheckResult{Pass: false, Details: "broken on purpose"}
		}))
	}
	var buf bytes.Buffer
	require.NoError(t, m.Evaluate(context.Background()).WriteJSON(&buf))
	p := filepath.Join(t.TempDir(), "report.json")
	require.NoError(t, os.WriteFile(p, buf.Bytes(), 0o600))
	return p
}

func TestComplianceReportFromEvidence(t *testing.T) {
	t.Parallel()
	green := writeReport(t)
	red := writeReport(t, compliance.SlotStaffMFA)

	code, out, _ := runCLI(t, nil, "compliance", "report", "--evidence", green)
	require.Equal(t, exitOK, code)
	require.Contains(t, out, "PASS: 15/15 controls pass")

	code, out, errOut := runCLI(t, nil, "compliance", "report", "--evidence", red)
	require.Equal(t, exitFindings, code, "a failing required control must fail the command")
	require.Contains(t, out, "❌ fail | gdpr-art-32-1-b")
	require.Contains(t, errOut, "gdpr-art-32-1-b")

	code, out, errOut = runCLI(t, nil, "compliance", "report", "--evidence", red, "--format", "json")
	require.Equal(t, exitFindings, code)
	var r map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &r))
	require.Equal(t, false, r["pass"])
	require.Contains(t, errOut, "FAIL:")

	code, out, _ = runCLI(t, nil, "compliance", "report", "--evidence", green, "--format", "oscal")
	require.Equal(t, exitOK, code)
	require.Contains(t, out, `"oscal-version": "1.0.6"`)
}

// TestComplianceReportTamperedEvidence edits a red report to claim green.
func TestComplianceReportTamperedEvidence(t *testing.T) {
	t.Parallel()
	red := writeReport(t, compliance.SlotKeyringGuardrail)
	b, err := os.ReadFile(red)
	require.NoError(t, err)
	edited := strings.Replace(string(b), `"pass": false`, `"pass": true`, 1)
	p := filepath.Join(t.TempDir(), "edited.json")
	require.NoError(t, os.WriteFile(p, []byte(edited), 0o600))
	code, _, _ := runCLI(t, nil, "compliance", "report", "--evidence", p)
	require.Equal(t, exitFindings, code)

	forged := strings.ReplaceAll(string(b), `"status": "fail"`, `"status": "pass"`)
	require.NoError(t, os.WriteFile(p, []byte(forged), 0o600))
	code, _, errOut := runCLI(t, nil, "compliance", "report", "--evidence", p)
	require.Equal(t, exitOperational, code)
	require.Contains(t, errOut, "invalid report")
}

func TestComplianceUsage(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"compliance", "report"},
		{"compliance", "report", "--evidence", "x", "--format", "pdf"},
		{"compliance", "report", "--bogus"},
		{"compliance", "jobs"},
		{"compliance", "jobs", "extra", "--dsn", "x"},
		{"compliance", "report", "--dsn", "x", "--outbox-max-age", "0s"},
	} {
		code, _, _ := runCLI(t, nil, args...)
		require.Equal(t, exitUsage, code, args)
	}
	code, _, _ := runCLI(t, nil, "compliance", "report", "--evidence", filepath.Join(t.TempDir(), "missing.json"))
	require.Equal(t, exitOperational, code)
}

func TestComplianceWithDatabase(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := context.Background()
	require.NoError(t, pgstore.Migrate(ctx, db.Pool))
	store := pgstore.New(db.Pool)
	m, err := monitor.New(store)
	require.NoError(t, err)
	code, _, _ := runCLI(t, nil, "compliance", "jobs", "--dsn", db.URL)
	require.Equal(t, exitFindings, code, "no job registered: the switch watches nothing")
	require.NoError(t, m.Register(ctx, monitor.JobSpec{Name: "privacy-sweeper", Period: time.Hour, Grace: time.Minute}))
	require.NoError(t, m.Succeed(ctx, "privacy-sweeper"))

	code, out, _ := runCLI(t, nil, "compliance", "jobs", "--dsn", db.URL)
	require.Equal(t, exitOK, code)
	require.Contains(t, out, "privacy-sweeper")
	require.Contains(t, out, "OK")

	green := writeReport(t)
	code, out, _ = runCLI(t, map[string]string{"DATABASE_URL": db.URL}, "compliance", "report", "--evidence", green)
	require.Equal(t, exitOK, code)
	require.Contains(t, out, jobsControlID)

	// A job registered long ago that never reported.
	require.NoError(t, store.RegisterJob(ctx, monitor.JobSpec{Name: "nightly-backup", Period: 24 * time.Hour, Grace: time.Hour},
		time.Now().Add(-48*time.Hour)))
	code, out, _ = runCLI(t, nil, "compliance", "jobs", "--dsn", db.URL, "--json")
	require.Equal(t, exitFindings, code)
	var body struct {
		Healthy bool
		Jobs    []monitor.JobStatus
	}
	require.NoError(t, json.Unmarshal([]byte(out), &body))
	require.False(t, body.Healthy)
	require.Equal(t, monitor.JobOverdue, body.Jobs[0].State)

	code, out, _ = runCLI(t, nil, "compliance", "report", "--dsn", db.URL)
	require.Equal(t, exitFindings, code)
	require.Contains(t, out, "nightly-backup overdue")
	code, _, _ = runCLI(t, nil, "compliance", "report", "--evidence", green, "--dsn", db.URL, "--format", "oscal")
	require.Equal(t, exitFindings, code)
}

func TestComplianceReportStaleEvidence(t *testing.T) {
	t.Parallel()
	m, err := compliance.NewMatrix(compliance.CCPACatalog(), compliance.WithClock(func() time.Time { return time.Now().Add(-10 * 24 * time.Hour) }))
	require.NoError(t, err)
	for slot := range m.Slots() {
		require.NoError(t, m.Fill(slot, func(context.Context) compliance.CheckResult { return compliance.CheckResult{Pass: true} }))
	}
	var buf bytes.Buffer
	require.NoError(t, m.Evaluate(context.Background()).WriteJSON(&buf))
	p := filepath.Join(t.TempDir(), "old.json")
	require.NoError(t, os.WriteFile(p, buf.Bytes(), 0o600))

	code, _, errOut := runCLI(t, nil, "compliance", "report", "--evidence", p)
	require.Equal(t, exitFindings, code)
	require.Contains(t, errOut, "--max-age")
	code, _, _ = runCLI(t, nil, "compliance", "report", "--evidence", p, "--max-age", "0")
	require.Equal(t, exitOK, code)
	code, _, _ = runCLI(t, nil, "compliance", "report", "--evidence", p, "--max-age", "-1h")
	require.Equal(t, exitUsage, code)
}

func TestComplianceReportFromStdin(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(writeReport(t, compliance.SlotConsentGate))
	require.NoError(t, err)
	var out, errb bytes.Buffer
	e := &env{stdin: bytes.NewReader(b), stdout: &out, stderr: &errb, getenv: func(string) string { return "" }}
	code := run(context.Background(), e, []string{"compliance", "report", "--evidence", "-"})
	require.Equal(t, exitFindings, code)
	require.Contains(t, out.String(), "gdpr-art-7")
}

// TestComplianceReportOutbox: with --dsn on a database that has the audit
// outbox, the report carries a control proving that the outbox drains: it
// passes while no entry waits longer than --outbox-max-age, and fails
// saying how many wait and for how long once one does (no relay runs).
// A database without the audit log gets no such control.
func TestComplianceReportOutbox(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := context.Background()
	require.NoError(t, pgstore.Migrate(ctx, db.Pool))
	m, err := monitor.New(pgstore.New(db.Pool))
	require.NoError(t, err)
	require.NoError(t, m.Register(ctx, monitor.JobSpec{Name: "privacy-sweeper", Period: time.Hour, Grace: time.Minute}))
	require.NoError(t, m.Succeed(ctx, "privacy-sweeper"))
	code, out, _ := runCLI(t, nil, "compliance", "report", "--dsn", db.URL, "--format", "json")
	require.Equal(t, exitOK, code, out)
	require.NotContains(t, out, outboxControlID, "no audit log in this database")

	require.NoError(t, auditpg.Migrate(ctx, db.Pool))
	code, out, _ = runCLI(t, nil, "compliance", "report", "--dsn", db.URL, "--format", "json")
	require.Equal(t, exitOK, code, out)
	require.Contains(t, out, outboxControlID)
	require.Contains(t, out, `"details": "0 waiting"`)

	_, err = db.Pool.Exec(ctx, `INSERT INTO auditlog_outbox (org, at, actor, action, schema_version, target, ip, user_agent, request_id, payload)
		VALUES ('acme', now(), 'user:1', 'invoice.paid', 1, 'invoice:1', '', '', '', '{}')`)
	require.NoError(t, err)
	time.Sleep(5 * time.Millisecond)
	code, out, _ = runCLI(t, nil, "compliance", "report", "--dsn", db.URL, "--outbox-max-age", "1ms")
	require.Equal(t, exitFindings, code, out)
	require.Contains(t, out, "1 waiting, the oldest for ")
	code, _, _ = runCLI(t, nil, "compliance", "report", "--dsn", db.URL)
	require.Equal(t, exitOK, code, "within the default minute")
}

// TestMigrateOnlyComplianceCreatesEveryTable: compliance, compliance/monitor
// and compliance/nec1099 share compliance/pgstore's migrations, so
// `migrate up --only compliance` still creates the heartbeat and filing
// tables under their old names, and the CLI's compliance commands work on
// them.
func TestMigrateOnlyComplianceCreatesEveryTable(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := context.Background()
	code, _, stderr := runCLI(t, nil, "migrate", "up", "--dsn", db.URL, "--only", "compliance")
	require.Equal(t, exitOK, code, stderr)
	for _, table := range []string{"compliance_ladder_state", "compliance_ladder_judgements", "compliance_audit_runs",
		"compliance_jobs", "compliance_reports", "compliance_filing_generations", "compliance_filings"} {
		var ok bool
		require.NoError(t, db.Pool.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, table).Scan(&ok))
		require.True(t, ok, table)
	}
	m, err := monitor.New(pgstore.New(db.Pool))
	require.NoError(t, err)
	require.NoError(t, m.Register(ctx, monitor.JobSpec{Name: "privacy-sweeper", Period: time.Hour, Grace: time.Minute}))
	require.NoError(t, m.Succeed(ctx, "privacy-sweeper"))
	code, out, stderr := runCLI(t, nil, "compliance", "jobs", "--dsn", db.URL)
	require.Equal(t, exitOK, code, stderr)
	require.Contains(t, out, "privacy-sweeper")
}

// A database without the heartbeat tables is an operational error (exit 3,
// with the fix), not a failing control: the report must not say "red" when
// it could not look.
func TestComplianceReportUnmigratedDatabase(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	code, out, errOut := runCLI(t, nil, "compliance", "report", "--dsn", db.URL)
	require.Equal(t, exitOperational, code, out)
	require.NotContains(t, out, jobsControlID, "no report is printed")
	require.Contains(t, errOut, "compliance_jobs")
	require.Contains(t, errOut, "rampart migrate up --only compliance", "the fix")
}
