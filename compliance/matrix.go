package compliance

import (
	"context"
	"crypto/rand"
	"fmt"
	"sort"
	"strings"
	"time"
)

// EvidenceKind says how a piece of evidence shows that a control holds.
type EvidenceKind string

// Evidence kinds.
const (
	// EvidenceCheck is an automated check run at report time: the strongest
	// evidence, because it is re-proved on every report.
	EvidenceCheck EvidenceKind = "check"
	// EvidenceCode points at the code that implements the control.
	EvidenceCode EvidenceKind = "code"
	// EvidenceTest points at a test that tries to break the control.
	EvidenceTest EvidenceKind = "test"
	// EvidenceDocument points at a policy or procedure document.
	EvidenceDocument EvidenceKind = "document"
)

// Evidence is one item that shows a control holds. A check names a slot that
// the host fills with a Check (so a catalog can be written before the host
// knows how to prove it); code, test and document evidence carry a reference.
type Evidence struct {
	Kind EvidenceKind `json:"kind"`
	// Slot names the check that proves this evidence (EvidenceCheck only).
	Slot string `json:"slot,omitempty"`
	// Ref is a code path, test name or document URL (other kinds).
	Ref string `json:"ref,omitempty"`
	// Description says, for a reader of the report, what the evidence shows.
	Description string `json:"description,omitempty"`
}

// Control is one row of the matrix: a framework requirement and the evidence
// that shows it holds.
type Control struct {
	// ID is a stable identifier, also used as the OSCAL control-id, so it
	// must start with a letter and contain only letters, digits, '.', '-'
	// and '_' (e.g. "gdpr-art-32-1-a").
	ID string `json:"id"`
	// Framework is e.g. "GDPR" or "CCPA".
	Framework string `json:"framework"`
	// Reference cites the requirement, e.g. "GDPR Art. 32(1)(a)".
	Reference string `json:"reference"`
	Title     string `json:"title"`
	// Required controls fail the whole report when they fail.
	Required bool       `json:"required"`
	Evidence []Evidence `json:"evidence"`
}

// CheckResult is what an automated check found.
type CheckResult struct {
	Pass    bool   `json:"pass"`
	Details string `json:"details,omitempty"`
	// CheckedAt is when the check ran; the matrix sets it from its clock
	// when the check leaves it zero.
	CheckedAt time.Time `json:"checked_at"`
}

// Check proves one evidence slot at report time. It should honour ctx: the
// matrix abandons a check that outlives its timeout and fails it.
type Check func(ctx context.Context) CheckResult

// CheckErr adapts a function that returns nil when the control holds into a
// Check whose details are the error text. A host closes over its verifier:
//
//	compliance.CheckErr(func(ctx context.Context) error {
//		_, err := auditlog.Verify(ctx, log.Store(), chain, opts)
//		return err
//	})
func CheckErr(f func(ctx context.Context) error) Check {
	return func(ctx context.Context) CheckResult {
		if err := f(ctx); err != nil {
			return CheckResult{Pass: false, Details: err.Error()}
		}
		return CheckResult{Pass: true, Details: "ok"}
	}
}

// Status of a control or of the whole report.
type Status string

// Statuses.
const (
	StatusPass Status = "pass"
	StatusFail Status = "fail"
)

// Matrix evaluates a catalog of controls against the checks the host wired.
// Build it with NewMatrix, fill slots with Fill, then call Evaluate as often
// as needed (each call re-runs every check). It is safe for concurrent
// Evaluate calls once filled.
type Matrix struct {
	title        string
	controls     []Control
	slots        map[string]bool
	checks       map[string]Check
	now          func() time.Time
	checkTimeout time.Duration
}

// NewMatrix validates the catalogs and the options and returns a matrix
// with every check slot empty. Empty slots fail their controls until
// filled, so forgetting to wire a check is visible in the report rather
// than silently green. An option out of range gives ErrInvalidConfig.
func NewMatrix(controls []Control, opts ...MatrixOption) (*Matrix, error) {
	c := matrixConfig{title: "rampart compliance report", now: time.Now, checkTimeout: 30 * time.Second}
	for _, o := range opts {
		if o == nil {
			return nil, invalid("nil option")
		}
		o.applyMatrix(&c)
	}
	if c.err != nil {
		return nil, c.err
	}
	m := &Matrix{
		title:        c.title,
		slots:        map[string]bool{},
		checks:       map[string]Check{},
		now:          c.now,
		checkTimeout: c.checkTimeout,
	}
	seen := map[string]bool{}
	for _, c := range controls {
		if !isToken(c.ID) {
			return nil, fmt.Errorf("%w: id %q must start with a letter and hold only letters, digits, '.', '-', '_'", ErrInvalidControl, c.ID)
		}
		if seen[c.ID] {
			return nil, fmt.Errorf("%w: duplicate id %q", ErrInvalidControl, c.ID)
		}
		seen[c.ID] = true
		for i, ev := range c.Evidence {
			switch ev.Kind {
			case EvidenceCheck:
				if ev.Slot == "" {
					return nil, fmt.Errorf("%w: %s: evidence %d: check without a slot", ErrInvalidControl, c.ID, i)
				}
				m.slots[ev.Slot] = true
			case EvidenceCode, EvidenceTest, EvidenceDocument:
				if ev.Ref == "" {
					return nil, fmt.Errorf("%w: %s: evidence %d: %s without a reference", ErrInvalidControl, c.ID, i, ev.Kind)
				}
			default:
				return nil, fmt.Errorf("%w: %s: evidence %d: unknown kind %q", ErrInvalidControl, c.ID, i, ev.Kind)
			}
		}
		cc := c
		cc.Evidence = append([]Evidence(nil), c.Evidence...)
		m.controls = append(m.controls, cc)
	}
	return m, nil
}

// Fill wires a check into a slot. Filling a slot no control uses is an error
// (ErrUnknownSlot), because it usually means the intended slot stays empty.
func (m *Matrix) Fill(slot string, check Check) error {
	if !m.slots[slot] {
		return fmt.Errorf("%w: %q", ErrUnknownSlot, slot)
	}
	if check == nil {
		return fmt.Errorf("%w: %q: nil check", ErrUnknownSlot, slot)
	}
	m.checks[slot] = check
	return nil
}

// Slots lists every check slot the catalog uses, sorted, with whether it has
// been filled; a host can assert at startup that none is empty.
func (m *Matrix) Slots() map[string]bool {
	out := make(map[string]bool, len(m.slots))
	for s := range m.slots {
		_, ok := m.checks[s]
		out[s] = ok
	}
	return out
}

// Evaluate runs every filled check once (a slot shared by several controls
// runs once per report) and returns the report.
func (m *Matrix) Evaluate(ctx context.Context) *Report {
	started := m.now().UTC()
	results := map[string]CheckResult{}
	names := make([]string, 0, len(m.slots))
	for s := range m.slots {
		names = append(names, s)
	}
	sort.Strings(names)
	for _, s := range names {
		check, ok := m.checks[s]
		if !ok {
			results[s] = CheckResult{Pass: false, Details: "no check is wired to slot " + s, CheckedAt: m.now().UTC()}
			continue
		}
		results[s] = m.run(ctx, s, check)
	}
	r := &Report{
		Version:     ReportVersion,
		ID:          newUUIDv4(),
		Title:       m.title,
		GeneratedAt: started,
	}
	for _, c := range m.controls {
		cr := ControlResult{Control: c, Status: StatusPass}
		if len(c.Evidence) == 0 {
			cr.Status = StatusFail
		}
		for _, ev := range c.Evidence {
			er := EvidenceResult{Evidence: ev, Pass: true}
			if ev.Kind == EvidenceCheck {
				res := results[ev.Slot]
				er.Pass, er.Details = res.Pass, res.Details
				t := res.CheckedAt
				er.CheckedAt = &t
			}
			if !er.Pass {
				cr.Status = StatusFail
			}
			cr.Results = append(cr.Results, er)
		}
		r.Controls = append(r.Controls, cr)
	}
	r.finish()
	return r
}

// run runs one check with a timeout, turning a panic or a hang into a
// failure: the check is evidence, so a broken check must never read as a
// passing one.
func (m *Matrix) run(ctx context.Context, slot string, check Check) CheckResult {
	ctx, cancel := context.WithTimeout(ctx, m.checkTimeout)
	defer cancel()
	done := make(chan CheckResult, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- CheckResult{Pass: false, Details: fmt.Sprintf("check panicked: %v", p)}
			}
		}()
		done <- check(ctx)
	}()
	var res CheckResult
	select {
	case res = <-done:
	case <-ctx.Done():
		res = CheckResult{Pass: false, Details: fmt.Sprintf("check %s did not finish: %v", slot, ctx.Err())}
	}
	if res.CheckedAt.IsZero() {
		res.CheckedAt = m.now()
	}
	res.CheckedAt = res.CheckedAt.UTC()
	if !res.Pass && res.Details == "" {
		res.Details = "check failed without details"
	}
	return res
}

// isToken reports whether s is an XML NCName-like token as OSCAL requires
// for control IDs (ASCII subset).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		letter := (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || r == '_'
		if i == 0 && !letter {
			return false
		}
		if !letter && !(r >= '0' && r <= '9') && !strings.ContainsRune(".-", r) {
			return false
		}
	}
	return true
}

// newUUIDv4 returns a random (version 4) UUID from crypto/rand.
func newUUIDv4() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return formatUUID(b)
}

func formatUUID(b [16]byte) string {
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// AllOf combines checks into one that passes only when all pass, e.g. the
// erasure slot: the sweeper's heartbeat and the request queue's deadlines.
// Details join every check's details.
func AllOf(checks ...Check) Check {
	return func(ctx context.Context) CheckResult {
		if len(checks) == 0 {
			return CheckResult{Pass: false, Details: "no checks combined"}
		}
		res := CheckResult{Pass: true}
		var details []string
		for _, c := range checks {
			r := c(ctx)
			if !r.Pass {
				res.Pass = false
			}
			if r.Details != "" {
				details = append(details, r.Details)
			}
			if r.CheckedAt.After(res.CheckedAt) {
				res.CheckedAt = r.CheckedAt
			}
		}
		res.Details = strings.Join(details, "; ")
		return res
	}
}
