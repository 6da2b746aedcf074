package privacy

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// SweepOptions tunes a sweep. The zero value is a sensible default.
type SweepOptions struct {
	// BatchSize is how many subjects one claim leases (default 500).
	BatchSize int
	// Lease is how long a claim keeps other sweepers away from a subject
	// (default 10 minutes). It must exceed the time a batch takes: a sweeper
	// that dies releases its subjects when the lease ends.
	Lease time.Duration
	// MaxSubjects stops the sweep after that many subjects (0: no limit).
	MaxSubjects int
}

// SweepReport says what a sweep did.
type SweepReport struct {
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	// Claimed is the number of due subjects the sweep looked at.
	Claimed int `json:"claimed"`
	// Erased is the number of subjects that reached StateErased.
	Erased int `json:"erased"`
	// RetentionErased is the number of subjects whose retained, minimised
	// records were erased because the retention period ended.
	RetentionErased int `json:"retention_erased"`
	// DomainsErased and DomainsMinimised count eraser calls that succeeded.
	DomainsErased    int `json:"domains_erased"`
	DomainsMinimised int `json:"domains_minimised"`
	// Records is the sum of the erasers' Result.Records.
	Records int64 `json:"records"`
	// Held is the number of subjects a legal hold kept (wholly or partly).
	Held int `json:"held"`
	// AuditsRecovered is the number of erasures released by an earlier sweep
	// without their audit entry (it died, or the audit log failed) that this
	// sweep recorded.
	AuditsRecovered int `json:"audits_recovered,omitempty"`
	// Failed lists the subjects whose erasure failed; they stay due and the
	// next sweep resumes them at the domain that failed.
	Failed []SweepFailure `json:"failed,omitempty"`
}

// SweepFailure is a subject whose erasure failed in a domain.
type SweepFailure struct {
	Org       string `json:"org"`
	SubjectID string `json:"subject_id"`
	Domain    string `json:"domain"`
	Error     string `json:"error"`
	err       error  // what Error says, wrapped by Sweep's error so that callers can match it
}

// Sweep erases every subject whose cooldown or retention period has elapsed,
// in batches, through the registered domains. It is idempotent and
// resumable: each domain's progress is stored as soon as its eraser returns,
// so a sweep that stops halfway (crash, error) resumes at the next domain. It
// is safe to run on several instances at once: the store leases each subject
// to one sweep. It reports to the heartbeat, and returns an error wrapping
// every subject failure after processing all the others. A release commits
// each erasure with a pending-audit marker (Release.AuditID), so an entry that
// a dying sweep did not record is recorded by a later one
// (SweepReport.AuditsRecovered); an AuditingStore records it with the release.
func (l *Lifecycle) Sweep(ctx context.Context, opts SweepOptions) (rep SweepReport, err error) {
	if len(l.domains) == 0 {
		return rep, ErrNoDomains
	}
	if opts.MaxSubjects < 0 {
		// It would sweep nothing and report success to the heartbeat.
		return rep, fmt.Errorf("%w: negative MaxSubjects", ErrInvalid)
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = 500
	}
	if opts.Lease <= 0 {
		opts.Lease = 10 * time.Minute
	}
	if l.heartbeat != nil {
		if err := l.heartbeat.Start(ctx, SweepJob); err != nil {
			return rep, fmt.Errorf("privacy: heartbeat: %w", err)
		}
	}
	defer func() {
		if l.heartbeat == nil {
			return
		}
		// A cancelled sweep still reports its failure: the heartbeat must
		// not miss exactly the runs that were killed.
		hctx := context.WithoutCancel(ctx)
		if err != nil {
			_ = l.heartbeat.Fail(hctx, SweepJob, err)
		} else if herr := l.heartbeat.Succeed(hctx, SweepJob); herr != nil {
			err = fmt.Errorf("privacy: heartbeat: %w", herr)
		}
	}()
	rep.Started = l.now()
	owner := newID()
	if err := l.recoverAudits(ctx, owner, opts, &rep); err != nil {
		return rep, err
	}
	for opts.MaxSubjects == 0 || rep.Claimed < opts.MaxSubjects {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		limit := opts.BatchSize
		if opts.MaxSubjects > 0 && opts.MaxSubjects-rep.Claimed < limit {
			limit = opts.MaxSubjects - rep.Claimed
		}
		subs, err := l.w.store.ClaimDue(ctx, Claim{Owner: owner, Now: l.now(), Lease: opts.Lease, Limit: limit})
		if err != nil {
			return rep, fmt.Errorf("privacy: sweep: claim: %w", err)
		}
		if len(subs) == 0 {
			break
		}
		rep.Claimed += len(subs)
		if err := l.sweepBatch(ctx, owner, subs, &rep); err != nil {
			return rep, err
		}
	}
	rep.Finished = l.now()
	if err := l.w.record(ctx, "", sweepActor, ActionSweepCompleted, "", map[string]any{
		"claimed": rep.Claimed, "erased": rep.Erased, "retention_erased": rep.RetentionErased,
		"held": rep.Held, "failed": len(rep.Failed)}); err != nil {
		return rep, err
	}
	if len(rep.Failed) > 0 {
		errs := make([]error, 0, len(rep.Failed))
		for _, f := range rep.Failed {
			if f.err != nil {
				errs = append(errs, fmt.Errorf("privacy: sweep: subject %q domain %q: %w", f.SubjectID, f.Domain, f.err))
				continue
			}
			errs = append(errs, fmt.Errorf("privacy: sweep: subject %q domain %q: %s", f.SubjectID, f.Domain, f.Error))
		}
		return rep, errors.Join(errs...)
	}
	return rep, nil
}

// sweepItem is a claimed subject while its batch is processed.
type sweepItem struct {
	s        Subject
	progress map[string]Progress
	held     bool
	failed   bool
	// retentionDone: a minimised domain was erased in this run.
	retentionDone bool
}

func (l *Lifecycle) sweepBatch(ctx context.Context, owner string, subs []Subject, rep *SweepReport) error {
	now := l.now()
	refs := make([]Ref, len(subs))
	items := make([]*sweepItem, len(subs))
	byRef := make(map[Ref]*sweepItem, len(subs))
	for i, s := range subs {
		refs[i] = Ref{s.Org, s.ID}
		items[i] = &sweepItem{s: s, progress: map[string]Progress{}}
		byRef[refs[i]] = items[i]
	}
	ps, err := l.w.store.Progress(ctx, refs)
	if err != nil {
		return fmt.Errorf("privacy: sweep: progress: %w", err)
	}
	for _, p := range ps {
		if it := byRef[Ref{p.Org, p.SubjectID}]; it != nil {
			it.progress[p.Domain] = p
		}
	}
	holds := map[string][]Hold{}
	for _, it := range items {
		if _, ok := holds[it.s.Org]; ok {
			continue
		}
		hs, err := l.w.store.Holds(ctx, it.s.Org)
		if err != nil {
			return fmt.Errorf("privacy: sweep: holds: %w", err)
		}
		holds[it.s.Org] = hs
	}
	heldFor := func(it *sweepItem, domain string) bool {
		for _, h := range holds[it.s.Org] {
			if h.ActiveAt(now) && h.covers(it.s.ID, domain) {
				return true
			}
		}
		return false
	}

	for _, d := range l.domains {
		var reqs []EraseRequest
		var who []*sweepItem
		for _, it := range items {
			if it.failed {
				continue // keep domain order: never skip past a failed domain
			}
			p := it.progress[d.Name]
			req := EraseRequest{Org: it.s.Org, SubjectID: it.s.ID, Domain: d.Name}
			switch {
			case p.Phase == PhaseErased:
				continue
			case heldFor(it, d.Name):
				it.held = true
				continue
			case p.Phase == PhaseMinimised && now.Before(p.RetainUntil):
				continue
			case p.Phase == "" && d.Retention > 0 && it.s.State == StateDeletionRequested:
				req.Minimise = true
				req.RetainUntil = now.Add(d.Retention)
			}
			reqs = append(reqs, req)
			who = append(who, it)
		}
		if len(reqs) == 0 {
			continue
		}
		done := l.eraseDomain(ctx, d, reqs, who, rep)
		var out []Progress
		for i, ok := range done {
			if !ok {
				continue
			}
			p := Progress{Org: reqs[i].Org, SubjectID: reqs[i].SubjectID, Domain: d.Name, Phase: PhaseErased, At: now}
			if reqs[i].Minimise {
				p.Phase, p.RetainUntil = PhaseMinimised, reqs[i].RetainUntil
				rep.DomainsMinimised++
			} else {
				if who[i].progress[d.Name].Phase == PhaseMinimised {
					who[i].retentionDone = true
				}
				rep.DomainsErased++
			}
			who[i].progress[d.Name] = p
			out = append(out, p)
		}
		if len(out) > 0 {
			if err := l.w.store.SetProgress(ctx, out); err != nil {
				return fmt.Errorf("privacy: sweep: progress: %w", err)
			}
		}
	}

	var rels []Release
	for _, it := range items {
		next := it.s
		if it.failed || it.held {
			// Stays due; the next sweep resumes where this one stopped.
			rels = append(rels, Release{Subject: next})
			continue
		}
		next.NextDue = time.Time{}
		for _, d := range l.domains {
			if p := it.progress[d.Name]; p.Phase == PhaseMinimised && (next.NextDue.IsZero() || p.RetainUntil.Before(next.NextDue)) {
				next.NextDue = p.RetainUntil
			}
		}
		var ev *Event
		switch {
		case it.s.State == StateDeletionRequested:
			next.State, next.ErasedAt = StateErased, now
			ev = &Event{Org: next.Org, SubjectID: next.ID, At: now, Action: ActionErased,
				From: StateDeletionRequested, To: StateErased, Actor: sweepActor, Reason: "cooldown elapsed"}
		case it.retentionDone:
			ev = &Event{Org: next.Org, SubjectID: next.ID, At: now, Action: ActionRetentionErased,
				From: StateErased, To: StateErased, Actor: sweepActor, Reason: "retention period ended"}
		}
		rels = append(rels, Release{Subject: next, Event: ev})
	}
	// Each event's ID goes in its entry's payload, so an entry recorded
	// twice stays recognisable as one event. A store that records the
	// entries in the release's transaction needs no pending marker.
	_, auditing := l.w.auditing()
	ids := make([]string, len(rels))
	for i := range rels {
		if rels[i].Event != nil {
			ids[i] = newID()
			if !auditing {
				rels[i].AuditID = ids[i]
			}
		}
	}
	var released []Ref
	if _, err := l.w.write(ctx, func(s LifecycleStore) ([]auditRecord, error) {
		var err error
		if released, err = s.Release(ctx, owner, rels); err != nil || !auditing {
			return nil, err
		}
		mine := refSet(released)
		var recs []auditRecord
		for i, r := range rels {
			if r.Event != nil && mine[refs[i]] {
				recs = append(recs, erasureRecord(PendingAudit{ID: ids[i], Event: *r.Event}))
			}
		}
		return recs, nil
	}); err != nil {
		return fmt.Errorf("privacy: sweep: release: %w", err)
	}
	// A subject whose lease expired mid-batch was claimed by another sweep,
	// which reports and audits it: counting or recording it here too would
	// show one erasure twice.
	mine := refSet(released)
	var audits []PendingAudit
	for i, r := range rels {
		if !mine[refs[i]] {
			continue
		}
		if items[i].held {
			rep.Held++
		}
		ev := r.Event
		if ev == nil {
			continue
		}
		if ev.Action == ActionErased {
			rep.Erased++
		} else {
			rep.RetentionErased++
		}
		audits = append(audits, PendingAudit{ID: r.AuditID, Event: *ev})
	}
	if auditing {
		return nil // recorded with the release
	}
	_, err = l.recordAudits(ctx, audits)
	return err
}

func refSet(refs []Ref) map[Ref]bool {
	set := make(map[Ref]bool, len(refs))
	for _, r := range refs {
		set[r] = true
	}
	return set
}

// erasureRecord is the audit entry of an erasure the sweep released.
func erasureRecord(a PendingAudit) auditRecord {
	ev := a.Event
	return auditRecord{ev.Org, ev.Actor, ev.Action, subjectTarget(ev.SubjectID),
		map[string]any{"reason": ev.Reason, "event_id": a.ID}}
}

// recordAudits records the audit entry of each released event, then removes
// its pending marker. It stops at the first failure: the markers of the
// events not recorded stay, and a later sweep records them
// (recoverAudits). It returns how many it recorded. A store that records
// audit entries itself records them all and removes their markers in one
// transaction, or none.
func (l *Lifecycle) recordAudits(ctx context.Context, audits []PendingAudit) (int, error) {
	if _, ok := l.w.auditing(); ok && len(audits) > 0 {
		// The entries and the removal of their markers commit together:
		// exactly once, whatever fails when.
		ids, recs := make([]string, len(audits)), make([]auditRecord, len(audits))
		for i, a := range audits {
			ids[i], recs[i] = a.ID, erasureRecord(a)
		}
		if _, err := l.w.write(ctx, func(s LifecycleStore) ([]auditRecord, error) {
			return recs, s.MarkAudited(ctx, ids)
		}); err != nil {
			return 0, fmt.Errorf("privacy: sweep: %d erasures released but not yet audited, the next sweep records them: %w", len(audits), err)
		}
		return len(audits), nil
	}
	done := make([]string, 0, len(audits))
	var failed error
	for _, a := range audits {
		r := erasureRecord(a)
		if err := l.w.record(ctx, r.org, r.actor, r.action, r.target, r.payload); err != nil {
			failed = fmt.Errorf("privacy: sweep: %d erasures released but not yet audited, the next sweep records them: %w",
				len(audits)-len(done), err)
			break
		}
		done = append(done, a.ID)
	}
	// Entries recorded are marked even when the sweep is being cancelled:
	// leaving them would record them a second time.
	if err := l.w.store.MarkAudited(context.WithoutCancel(ctx), done); err != nil && failed == nil {
		failed = fmt.Errorf("privacy: sweep: mark audited: %w", err)
	}
	return len(done), failed
}

// recoverAudits records the erasures an earlier sweep released but did not
// audit (it died between the two writes, or the audit log failed), once their
// releasing sweep's lease has passed.
func (l *Lifecycle) recoverAudits(ctx context.Context, owner string, opts SweepOptions, rep *SweepReport) error {
	for {
		pending, err := l.w.store.ClaimPendingAudits(ctx, Claim{Owner: owner, Now: l.now(), Lease: opts.Lease, Limit: opts.BatchSize})
		if err != nil {
			return fmt.Errorf("privacy: sweep: pending audits: %w", err)
		}
		n, err := l.recordAudits(ctx, pending)
		rep.AuditsRecovered += n
		if err != nil || len(pending) < opts.BatchSize {
			return err
		}
	}
}

// eraseDomain runs d's eraser over reqs, in one batch call when it can, and
// reports which requests succeeded. Failures are added to rep and mark the
// subject failed.
func (l *Lifecycle) eraseDomain(ctx context.Context, d Domain, reqs []EraseRequest, who []*sweepItem, rep *SweepReport) []bool {
	done := make([]bool, len(reqs))
	if be, ok := d.Eraser.(BatchEraser); ok && len(reqs) > 1 {
		res, err := safeErase(func() (Result, error) { return be.EraseBatch(ctx, reqs) })
		if err == nil {
			rep.Records += res.Records
			for i := range done {
				done[i] = true
			}
			return done
		}
		// Fall back to one call per subject, to find the one that fails.
	}
	for i, req := range reqs {
		res, err := safeErase(func() (Result, error) { return d.Eraser.Erase(ctx, req) })
		if err != nil {
			who[i].failed = true
			rep.Failed = append(rep.Failed, SweepFailure{Org: req.Org, SubjectID: req.SubjectID, Domain: d.Name, Error: err.Error(), err: err})
			continue
		}
		rep.Records += res.Records
		done[i] = true
	}
	return done
}

// safeErase turns an eraser's panic into an error, so one bad record cannot
// stop the sweep of every other subject.
func safeErase(f func() (Result, error)) (res Result, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("privacy: eraser panicked: %v", r)
		}
	}()
	return f()
}
