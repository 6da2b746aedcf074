package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rampart-sdk/rampart/privacy"
	"github.com/rampart-sdk/rampart/privacy/pgstore"
)

func privacyGroup() group {
	return group{
		name:    "privacy",
		summary: "the GDPR data lifecycle",
		verbs: []verb{
			{name: "requests", summary: "data subject requests: overdue", run: privacyRequests},
			{name: "sweep", summary: "report subjects due for erasure and check the host sweeper keeps up", run: privacySweep},
			{name: "verify-export", summary: "check an export document against its manifest", run: privacyVerifyExport},
		},
	}
}

// openPrivacyStore connects to dsn; the schema must have been migrated.
func openPrivacyStore(ctx context.Context, dsn string) (*pgxpool.Pool, pgstore.Store, error) {
	pool, err := connect(ctx, dsn)
	if err != nil {
		return nil, nil, err
	}
	st, err := pgstore.New(pool)
	if err != nil {
		pool.Close()
		return nil, nil, err
	}
	return pool, st, nil
}

func privacyRequests(ctx context.Context, e *env, args []string) error {
	const synopsis = "privacy requests overdue --dsn URL [--json]"
	if len(args) == 0 {
		return usageErr("missing verb; usage: rampart %s", synopsis)
	}
	if isHelp(args[0]) {
		fmt.Fprintf(e.stdout, "Usage: rampart %s\n\nLists open data subject requests past their due date (one month after\nreceipt, or three when extended). Exits 1 when any is overdue.\n", synopsis)
		return nil
	}
	if args[0] != "overdue" {
		return usageErr("unknown verb %q; usage: rampart %s", args[0], synopsis)
	}
	fs := newFlags(e, "privacy requests overdue", synopsis)
	dsn := dsnFlag(e, fs)
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	pool, st, err := openPrivacyStore(ctx, *dsn)
	if err != nil {
		return err
	}
	defer pool.Close()
	now := time.Now()
	reqs, err := st.OpenRequestsDueBefore(ctx, now)
	if err != nil {
		return operational(err)
	}
	if *asJSON {
		if reqs == nil {
			reqs = []privacy.Request{}
		}
		if err := writeJSON(e.stdout, map[string]any{"now": now.UTC(), "overdue": reqs}); err != nil {
			return operational(err)
		}
	} else {
		tw := tabwriter.NewWriter(e.stdout, 0, 2, 2, ' ', 0)
		fmt.Fprintln(tw, "ORG\tREQUEST\tSUBJECT\tKIND\tRECEIVED\tDUE\tDAYS LATE\tVERIFIED")
		for _, r := range reqs {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%t\n", r.Org, r.ID, r.SubjectID, r.Kind,
				r.ReceivedAt.UTC().Format("2006-01-02"), r.DueAt.UTC().Format("2006-01-02"),
				int(now.Sub(r.DueAt).Hours()/24), r.IdentityVerified)
		}
		tw.Flush()
		fmt.Fprintf(e.stdout, "%d overdue request(s)\n", len(reqs))
	}
	if len(reqs) > 0 {
		return findings("%d data subject request(s) overdue", len(reqs))
	}
	return nil
}

// sweepReport is what `rampart privacy sweep` prints.
type sweepReport struct {
	Now time.Time `json:"now"`
	// DueErasure: cooldown elapsed, waiting for the host's erasers.
	DueErasure []dueSubject `json:"due_erasure"`
	// DueRetention: a retention period ended, waiting for the host's erasers.
	DueRetention []dueSubject `json:"due_retention"`
	// Stale: due for longer than the grace period: the host sweeper is not
	// running, failing, or blocked by a hold.
	Stale int `json:"stale"`
	// Held: due subjects a legal hold currently blocks.
	Held int `json:"held"`
}

type dueSubject struct {
	Org       string    `json:"org"`
	SubjectID string    `json:"subject_id"`
	DueSince  time.Time `json:"due_since"`
	Held      bool      `json:"held"`
}

// privacySweep is the operator's view of the sweep. The CLI has no host
// erasers (they are the host's code: its tables, its keyring), so it never
// marks anything erased: doing so without erasing would be a lie in the
// audit trail. It lists what is due, and which of it is held, and fails when
// subjects stay due past the grace period, which means the host's sweeper
// (privacy.Lifecycle.Sweep) is not running or keeps failing.
func privacySweep(ctx context.Context, e *env, args []string) error {
	const synopsis = "privacy sweep --dsn URL [--json] [--grace 24h] [--limit N]"
	fs := newFlags(e, "privacy sweep", synopsis)
	dsn := dsnFlag(e, fs)
	asJSON := fs.Bool("json", false, "print JSON")
	grace := fs.Duration("grace", 24*time.Hour, "how long a subject may stay due before it counts as stale (exit 1)")
	limit := fs.Int("limit", 10000, "list at most this many due subjects")
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "Usage: rampart %s\n\n", synopsis)
		fmt.Fprint(e.stderr, `Erasure needs the host's erasers (its tables and keys), which the CLI does not
have: run privacy.Lifecycle.Sweep in the host (a cron job) to erase. This command
reports the subjects whose cooldown or retention period has elapsed and that
are waiting for that sweep, and which of them a legal hold blocks. It never
marks a subject erased. Exit 1 when a subject not under a hold has been due for
longer than --grace: the host sweeper is not running or keeps failing.

Flags:
`)
		printDefaults(e, fs)
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	pool, st, err := openPrivacyStore(ctx, *dsn)
	if err != nil {
		return err
	}
	defer pool.Close()
	now := time.Now()
	subs, err := st.DueSubjects(ctx, now, *limit)
	if err != nil {
		return operational(err)
	}
	rep := sweepReport{Now: now.UTC(), DueErasure: []dueSubject{}, DueRetention: []dueSubject{}}
	holds := map[string][]privacy.Hold{}
	for _, s := range subs {
		hs, ok := holds[s.Org]
		if !ok {
			if hs, err = st.Holds(ctx, s.Org); err != nil {
				return operational(err)
			}
			holds[s.Org] = hs
		}
		d := dueSubject{Org: s.Org, SubjectID: s.ID, DueSince: s.NextDue.UTC()}
		for _, h := range hs {
			if h.ActiveAt(now) && (h.SubjectID == "" || h.SubjectID == s.ID) {
				d.Held = true
			}
		}
		if d.Held {
			rep.Held++
		} else if now.Sub(s.NextDue) > *grace {
			rep.Stale++
		}
		if s.State == privacy.StateErased {
			rep.DueRetention = append(rep.DueRetention, d)
		} else {
			rep.DueErasure = append(rep.DueErasure, d)
		}
	}
	if *asJSON {
		if err := writeJSON(e.stdout, rep); err != nil {
			return operational(err)
		}
	} else {
		tw := tabwriter.NewWriter(e.stdout, 0, 2, 2, ' ', 0)
		fmt.Fprintln(tw, "ORG\tSUBJECT\tDUE FOR\tDUE SINCE\tHELD")
		for _, d := range rep.DueErasure {
			fmt.Fprintf(tw, "%s\t%s\terasure\t%s\t%t\n", d.Org, d.SubjectID, d.DueSince.Format(time.RFC3339), d.Held)
		}
		for _, d := range rep.DueRetention {
			fmt.Fprintf(tw, "%s\t%s\tretention end\t%s\t%t\n", d.Org, d.SubjectID, d.DueSince.Format(time.RFC3339), d.Held)
		}
		tw.Flush()
		fmt.Fprintf(e.stdout, "%d due for erasure, %d due at retention end, %d held, %d stale (due > %s)\n",
			len(rep.DueErasure), len(rep.DueRetention), rep.Held, rep.Stale, *grace)
		if len(subs) > 0 {
			fmt.Fprintln(e.stdout, "Erasure runs in the host (privacy.Lifecycle.Sweep with its registered domains); this command does not erase.")
		}
	}
	if rep.Stale > 0 {
		return findings("%d subject(s) due for more than %s: is the host's privacy sweeper running?", rep.Stale, *grace)
	}
	return nil
}

func privacyVerifyExport(_ context.Context, e *env, args []string) error {
	const synopsis = "privacy verify-export FILE|-"
	fs := newFlags(e, "privacy verify-export", synopsis)
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageErr("usage: rampart %s", synopsis)
	}
	var r io.Reader = e.stdin
	if name := fs.Arg(0); name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return operational(err)
		}
		defer f.Close()
		r = f
	}
	info, err := privacy.ReadExport(r)
	if errors.Is(err, privacy.ErrBadExport) {
		return findings("%v", err)
	}
	if err != nil {
		return operational(err)
	}
	if *asJSON {
		return writeJSON(e.stdout, info)
	}
	fmt.Fprintf(e.stdout, "valid %s export of subject %s (org %s), generated %s\n", info.Schema, info.SubjectID, info.Org, info.GeneratedAt.Format(time.RFC3339))
	fmt.Fprintf(e.stdout, "  digest %s (compare with the audit entry of the export)\n", info.Digest)
	for _, m := range info.Manifest {
		fmt.Fprintf(e.stdout, "  %-24s %6d records  sha256 %s\n", m.Section, m.Records, m.SHA256)
	}
	return nil
}
