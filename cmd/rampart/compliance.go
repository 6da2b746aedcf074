package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	auditpg "github.com/rampart-sdk/rampart/auditlog/pgstore"
	"github.com/rampart-sdk/rampart/compliance"
	"github.com/rampart-sdk/rampart/compliance/monitor"
	"github.com/rampart-sdk/rampart/compliance/pgstore"
)

func complianceGroup() group {
	return group{
		name:    "compliance",
		summary: "the control matrix, evidence report and job heartbeats",
		verbs: []verb{
			{name: "report", summary: "evaluate controls and print a Markdown, JSON or OSCAL report (exit 1 if a required control fails)", run: complianceReport},
			{name: "jobs", summary: "list scheduled jobs and their heartbeat state (exit 1 if any is overdue)", run: complianceJobs},
		},
	}
}

// jobsControlID is the control the CLI adds when it can read the heartbeat
// tables itself (--dsn).
const jobsControlID = "rampart-jobs-heartbeats"

func complianceReport(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "compliance report", "compliance report [--format markdown|json|oscal] [--evidence FILE] [--max-age D] [--dsn URL [--outbox-max-age D]]")
	format := fs.String("format", "markdown", "output format: markdown, json or oscal")
	evidence := fs.String("evidence", "", `JSON report written by the Go API (Report.WriteJSON); "-" reads stdin`)
	maxAge := fs.Duration("max-age", 7*24*time.Hour, "fail when the evidence report is older than this (0 disables)")
	outboxMaxAge := fs.Duration("outbox-max-age", time.Minute, "with --dsn, when the database has the audit outbox: fail when an entry has waited longer than this for the relay")
	dsn := dsnFlag(e, fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErr("unexpected argument %q", fs.Arg(0))
	}
	if *maxAge < 0 {
		return usageErr("--max-age must not be negative")
	}
	if *outboxMaxAge <= 0 {
		return usageErr("--outbox-max-age must be positive")
	}
	switch *format {
	case "markdown", "md", "json", "oscal":
	default:
		return usageErr("unknown --format %q (want markdown, json or oscal)", *format)
	}
	if *evidence == "" && *dsn == "" {
		return usageErr("nothing to evaluate: pass --evidence FILE and/or --dsn URL (or set DATABASE_URL)")
	}

	var r *compliance.Report
	if *evidence != "" {
		var rd io.Reader = e.stdin
		if *evidence != "-" {
			f, err := os.Open(*evidence)
			if err != nil {
				return operational(err)
			}
			defer f.Close()
			rd = f
		}
		var err error
		if r, err = compliance.ReadReport(rd); err != nil {
			return operational(err)
		}
		// A green report from last quarter proves nothing about today.
		if age := time.Since(r.GeneratedAt); *maxAge > 0 && age > *maxAge {
			return findings("evidence report %s was generated %s ago, more than --max-age %s",
				r.ID, roundAge(age), *maxAge)
		}
	} else {
		r = compliance.NewReport("rampart compliance report", time.Now())
	}
	if *dsn != "" {
		if err := addDatabaseControls(ctx, r, *dsn, *outboxMaxAge); err != nil {
			return operational(err)
		}
	}

	var err error
	switch *format {
	case "json":
		err = r.WriteJSON(e.stdout)
	case "oscal":
		err = r.WriteOSCAL(e.stdout, compliance.OSCALOptions{})
	default:
		err = r.WriteMarkdown(e.stdout)
	}
	if err != nil {
		return operational(err)
	}
	if *format != "markdown" && *format != "md" {
		fmt.Fprintln(e.stderr, r.SummaryLine())
	}
	if !r.Pass {
		return findings("%s", r.SummaryLine())
	}
	return nil
}

func statusOf(pass bool) compliance.Status {
	if pass {
		return compliance.StatusPass
	}
	return compliance.StatusFail
}

// outboxControlID is the control the CLI adds when the database has the
// audit outbox (auditlog/pgstore).
const outboxControlID = "rampart-audit-outbox"

// addDatabaseControls adds to r the controls the CLI proves from the
// database itself: the job heartbeats and, where the audit log's outbox
// exists, that it drains (compliance.OutboxCheck, as rampart doctor).
func addDatabaseControls(ctx context.Context, r *compliance.Report, dsn string, outboxMaxAge time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	pool, err := connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer pool.Close()
	// One read of the heartbeat tables: the monitor judges them, and a read
	// error is an operational error (exit 3), not a failing control.
	jobs := &jobsRead{Store: pgstore.New(pool)}
	mon, err := monitor.New(jobs)
	if err != nil {
		return err
	}
	res := mon.Check(ctx)
	if jobs.err != nil {
		return jobs.err
	}
	r.AddControl(databaseControl(jobsControlID, "Dead-man switch ("+compliance.SlotJobsHealthy+")",
		"Every scheduled job reported success on time", compliance.SlotJobsHealthy,
		"heartbeat tables read from the database", res))
	var outbox bool
	if err := pool.QueryRow(ctx, `SELECT to_regclass('auditlog_outbox') IS NOT NULL`).Scan(&outbox); err != nil {
		return err
	}
	if outbox {
		res := compliance.OutboxCheck(auditpg.New(pool), outboxMaxAge)(ctx)
		r.AddControl(databaseControl(outboxControlID, "Audit outbox drains ("+compliance.SlotAuditChainVerifies+")",
			"Every committed audit entry reaches its chain: none waits in the outbox longer than "+outboxMaxAge.String(),
			compliance.SlotAuditChainVerifies, "audit outbox depth and oldest entry's age, read from the database", res))
	}
	return nil
}

// jobsRead remembers the error of the monitor's read of the jobs, which its
// Check reports only as a failing result.
type jobsRead struct {
	monitor.Store
	err error
}

func (j *jobsRead) Jobs(ctx context.Context) ([]monitor.JobRecord, error) {
	recs, err := j.Store.Jobs(ctx)
	j.err = err
	return recs, err
}

// databaseControl is a required control of the rampart framework with one
// check the CLI ran against the database.
func databaseControl(id, ref, title, slot, description string, res compliance.CheckResult) compliance.ControlResult {
	at := time.Now().UTC()
	ev := compliance.Evidence{Kind: compliance.EvidenceCheck, Slot: slot, Description: description}
	return compliance.ControlResult{
		Control: compliance.Control{ID: id, Framework: "rampart", Reference: ref, Title: title, Required: true,
			Evidence: []compliance.Evidence{ev}},
		Status:  statusOf(res.Pass),
		Results: []compliance.EvidenceResult{{Evidence: ev, Pass: res.Pass, Details: res.Details, CheckedAt: &at}},
	}
}

func jobStatuses(ctx context.Context, dsn string) ([]monitor.JobStatus, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	pool, err := connect(ctx, dsn)
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	return readJobStatuses(ctx, pool)
}

// readJobStatuses judges the jobs in the heartbeat tables exactly as the
// host's Monitor does: through a Monitor over the same tables.
func readJobStatuses(ctx context.Context, pool *pgxpool.Pool) ([]monitor.JobStatus, error) {
	mon, err := monitor.New(pgstore.New(pool))
	if err != nil {
		return nil, err
	}
	return mon.Status(ctx)
}

func complianceJobs(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "compliance jobs", "compliance jobs --dsn URL [--json]")
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	dsn := dsnFlag(e, fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErr("unexpected argument %q", fs.Arg(0))
	}
	if *dsn == "" {
		return usageErr("--dsn is required (or set DATABASE_URL)")
	}
	sts, err := jobStatuses(ctx, *dsn)
	if err != nil {
		return operational(err)
	}
	overdue := 0
	for _, s := range sts {
		if s.Overdue {
			overdue++
		}
	}
	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(struct {
			Healthy bool                `json:"healthy"`
			Overdue int                 `json:"overdue"`
			Jobs    []monitor.JobStatus `json:"jobs"`
		}{overdue == 0 && len(sts) > 0, overdue, sts}); err != nil {
			return operational(err)
		}
	} else {
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "JOB\tSTATE\tLAST SUCCESS\tDUE BY\tLAST FAILURE")
		for _, s := range sts {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", s.Name, strings.ToUpper(string(s.State)), fmtTime(s.LastSuccess),
				s.DueBy.Format(time.RFC3339), failure(s))
		}
		_ = tw.Flush()
	}
	if overdue > 0 {
		return findings("%d of %d jobs overdue", overdue, len(sts))
	}
	if len(sts) == 0 {
		// As in the report: a dead-man switch that watches nothing proves
		// nothing, so an empty job table is a finding, not a pass.
		return findings("no scheduled job is registered")
	}
	return nil
}

func fmtTime(t *time.Time) string {
	if t == nil {
		return "never"
	}
	return t.Format(time.RFC3339)
}

func failure(s monitor.JobStatus) string {
	if s.LastFailure == nil {
		return "-"
	}
	cause := s.LastCause
	if len(cause) > 60 {
		cause = cause[:60] + "…"
	}
	return fmtTime(s.LastFailure) + " " + strings.ReplaceAll(cause, "\n", " ")
}

// roundAge rounds an age up, for a message, to a precision that suits its
// size: milliseconds under a second, seconds under an hour, minutes under a
// day, hours beyond. Rounding up keeps "generated 6s ago, more than 5s" true
// for an age of 5.2s, where rounding to nearest would print 5s.
func roundAge(d time.Duration) time.Duration {
	p := time.Hour
	switch {
	case d < time.Second:
		p = time.Millisecond
	case d < time.Hour:
		p = time.Second
	case d < 24*time.Hour:
		p = time.Minute
	}
	r := d.Truncate(p)
	if r < d {
		r += p
	}
	return r
}
