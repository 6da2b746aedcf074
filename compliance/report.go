package compliance

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
)

// ReportVersion is the version of the JSON report format this package
// writes and reads.
const ReportVersion = 1

// maxReportBytes bounds ReadReport: a report of thousands of controls is a
// few megabytes; anything larger is not one.
const maxReportBytes = 32 << 20

// Report is the outcome of one Matrix evaluation. Its JSON form is the
// machine-readable report that the CLI re-reads (ReadReport).
type Report struct {
	Version     int             `json:"version"`
	ID          string          `json:"id"`
	Title       string          `json:"title"`
	GeneratedAt time.Time       `json:"generated_at"`
	Pass        bool            `json:"pass"`
	Summary     Summary         `json:"summary"`
	Controls    []ControlResult `json:"controls"`
}

// Summary counts controls by outcome.
type Summary struct {
	Controls       int `json:"controls"`
	Passed         int `json:"passed"`
	Failed         int `json:"failed"`
	RequiredFailed int `json:"required_failed"`
}

// ControlResult is a control with its status and the result of each of its
// evidence items.
type ControlResult struct {
	Control
	Status  Status           `json:"status"`
	Results []EvidenceResult `json:"results"`
}

// EvidenceResult is one evidence item and, for checks, what the check found.
type EvidenceResult struct {
	Evidence
	Pass      bool       `json:"pass"`
	Details   string     `json:"details,omitempty"`
	CheckedAt *time.Time `json:"checked_at,omitempty"`
}

// NewReport returns an empty report to which tools add controls they
// evaluated themselves (AddControl); Matrix.Evaluate is the usual source.
func NewReport(title string, at time.Time) *Report {
	r := &Report{Version: ReportVersion, ID: newUUIDv4(), Title: title, GeneratedAt: at.UTC()}
	r.finish()
	return r
}

// finish recomputes the summary and the overall verdict from the controls:
// the report passes only when no required control fails.
func (r *Report) finish() {
	r.Summary = Summary{Controls: len(r.Controls)}
	for _, c := range r.Controls {
		if c.Status == StatusPass {
			r.Summary.Passed++
			continue
		}
		r.Summary.Failed++
		if c.Required {
			r.Summary.RequiredFailed++
		}
	}
	// An empty report proves nothing, so it does not pass.
	r.Pass = r.Summary.RequiredFailed == 0 && len(r.Controls) > 0
}

// Failing returns the controls that did not pass, required ones first.
func (r *Report) Failing() []ControlResult {
	var req, opt []ControlResult
	for _, c := range r.Controls {
		if c.Status == StatusPass {
			continue
		}
		if c.Required {
			req = append(req, c)
		} else {
			opt = append(opt, c)
		}
	}
	return append(req, opt...)
}

// AddControl appends an evaluated control and recomputes the verdict; the
// CLI uses it to add checks it can run alone (overdue jobs in the database)
// to a report read from a file.
func (r *Report) AddControl(c ControlResult) {
	r.Controls = append(r.Controls, c)
	r.finish()
}

// SummaryLine is a one-line verdict for logs and CI output, e.g.
// "FAIL: 15/16 controls pass; 1 required control fails (gdpr-art-17)".
func (r *Report) SummaryLine() string {
	verdict := "PASS"
	if !r.Pass {
		verdict = "FAIL"
	}
	line := fmt.Sprintf("%s: %d/%d controls pass", verdict, r.Summary.Passed, r.Summary.Controls)
	if r.Summary.RequiredFailed > 0 {
		var ids []string
		for _, c := range r.Failing() {
			if c.Required {
				ids = append(ids, c.ID)
			}
		}
		noun := "controls fail"
		if len(ids) == 1 {
			noun = "control fails"
		}
		line += fmt.Sprintf("; %d required %s (%s)", len(ids), noun, strings.Join(ids, ", "))
	}
	return line
}

// WriteJSON writes the machine-readable report.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("compliance: write json: %w", err)
	}
	return nil
}

// ReadReport parses a JSON report written by WriteJSON. It does not trust
// the stored verdict: the summary and overall pass are recomputed from the
// controls, and a control claiming to pass while one of its evidence items
// failed is rejected, so hand-editing "pass": true into a file does not turn
// a red report green.
func ReadReport(rd io.Reader) (*Report, error) {
	b, err := io.ReadAll(io.LimitReader(rd, maxReportBytes+1))
	if err != nil {
		return nil, fmt.Errorf("compliance: read report: %w", err)
	}
	if len(b) > maxReportBytes {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrInvalidReport, maxReportBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var r Report
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidReport, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: trailing data", ErrInvalidReport)
	}
	if r.Version != ReportVersion {
		return nil, fmt.Errorf("%w: version %d, want %d", ErrInvalidReport, r.Version, ReportVersion)
	}
	seen := map[string]bool{}
	for i, c := range r.Controls {
		if !isToken(c.ID) || seen[c.ID] {
			return nil, fmt.Errorf("%w: control %d: bad or duplicate id %q", ErrInvalidReport, i, c.ID)
		}
		seen[c.ID] = true
		for _, e := range c.Results {
			switch e.Kind {
			case EvidenceCheck, EvidenceCode, EvidenceTest, EvidenceDocument:
			default:
				return nil, fmt.Errorf("%w: control %s: unknown evidence kind %q", ErrInvalidReport, c.ID, e.Kind)
			}
		}
		switch c.Status {
		case StatusPass:
			if len(c.Results) == 0 {
				return nil, fmt.Errorf("%w: control %s passes without evidence", ErrInvalidReport, c.ID)
			}
			for _, e := range c.Results {
				if !e.Pass {
					return nil, fmt.Errorf("%w: control %s passes with failing evidence", ErrInvalidReport, c.ID)
				}
			}
		case StatusFail:
		default:
			return nil, fmt.Errorf("%w: control %s: unknown status %q", ErrInvalidReport, c.ID, c.Status)
		}
	}
	r.finish()
	return &r, nil
}

// WriteMarkdown writes the report for people: the verdict, a table of
// controls, then the failing evidence with details.
func (r *Report) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n\n", mdEscape(r.Title))
	fmt.Fprintf(&b, "Generated %s. **%s**\n\n", r.GeneratedAt.UTC().Format(time.RFC3339), mdEscape(r.SummaryLine()))
	b.WriteString("| Status | Control | Reference | Title | Required | Evidence |\n")
	b.WriteString("|---|---|---|---|---|---|\n")
	for _, c := range r.Controls {
		mark := "✅ pass"
		if c.Status != StatusPass {
			mark = "❌ fail"
		}
		req := "no"
		if c.Required {
			req = "yes"
		}
		var ev []string
		for _, e := range c.Results {
			ev = append(ev, evidenceLabel(e))
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", mark, mdEscape(c.ID), mdEscape(c.Reference),
			mdEscape(c.Title), req, mdEscape(strings.Join(ev, "; ")))
	}
	if failing := r.Failing(); len(failing) > 0 {
		b.WriteString("\n## Failing controls\n\n")
		for _, c := range failing {
			fmt.Fprintf(&b, "### %s — %s\n\n", mdEscape(c.ID), mdEscape(c.Title))
			if len(c.Results) == 0 {
				b.WriteString("- no evidence is declared for this control\n")
			}
			for _, e := range c.Results {
				if e.Pass {
					continue
				}
				at := ""
				if e.CheckedAt != nil {
					at = " (checked " + e.CheckedAt.UTC().Format(time.RFC3339) + ")"
				}
				fmt.Fprintf(&b, "- %s: %s%s\n", mdEscape(evidenceLabel(e)), mdEscape(e.Details), at)
			}
			b.WriteString("\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	if err != nil {
		return fmt.Errorf("compliance: write markdown: %w", err)
	}
	return nil
}

func evidenceLabel(e EvidenceResult) string {
	switch e.Kind {
	case EvidenceCheck:
		return "check " + e.Slot
	default:
		return string(e.Kind) + " " + e.Ref
	}
}

// mdEscape keeps check details (which may quote attacker-influenced text)
// from breaking the table or injecting markup.
func mdEscape(s string) string { return mdEscaper.Replace(s) }

var mdEscaper = strings.NewReplacer("|", `\|`, "\n", " ", "\r", " ", "<", "&lt;", ">", "&gt;", "`", "\\`", "[", `\[`, "]", `\]`, "*", `\*`, "_", `\_`)

// uuidNamespace is the UUIDv5 namespace of rampart's OSCAL objects: RFC
// 4122's URL namespace (6ba7b811-...), the one compliance/nec1099 derives
// its stored filing IDs from. Any fixed value works as long as it never
// changes, so that a report's UUIDs are stable. They are identifiers, not
// secrets.
var uuidNamespace = [16]byte{0x6b, 0xa7, 0xb8, 0x11, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8}

// uuidV5 derives a name-based (version 5, SHA-1) UUID, so an observation's
// UUID is stable for a given report and control.
func uuidV5(name string) string {
	h := sha1.New()
	h.Write(uuidNamespace[:])
	h.Write([]byte(name))
	var b [16]byte
	copy(b[:], h.Sum(nil))
	b[6] = b[6]&0x0f | 0x50
	b[8] = b[8]&0x3f | 0x80
	return formatUUID(b)
}

// OSCAL assessment-results (1.0.6) document, reduced to the fields written.
type (
	oscalDoc struct {
		AssessmentResults oscalAR `json:"assessment-results"`
	}
	oscalAR struct {
		UUID     string        `json:"uuid"`
		Metadata oscalMetadata `json:"metadata"`
		ImportAP oscalImportAP `json:"import-ap"`
		Results  []oscalResult `json:"results"`
	}
	oscalMetadata struct {
		Title        string      `json:"title"`
		LastModified string      `json:"last-modified"`
		Version      string      `json:"version"`
		OSCALVersion string      `json:"oscal-version"`
		Props        []oscalProp `json:"props,omitempty"`
	}
	oscalImportAP struct {
		Href string `json:"href"`
	}
	oscalProp struct {
		Name  string `json:"name"`
		Value string `json:"value"`
		NS    string `json:"ns,omitempty"`
	}
	oscalResult struct {
		UUID             string             `json:"uuid"`
		Title            string             `json:"title"`
		Description      string             `json:"description"`
		Start            string             `json:"start"`
		End              string             `json:"end,omitempty"`
		Props            []oscalProp        `json:"props,omitempty"`
		ReviewedControls oscalReviewed      `json:"reviewed-controls"`
		Observations     []oscalObservation `json:"observations,omitempty"`
		Findings         []oscalFinding     `json:"findings,omitempty"`
	}
	oscalReviewed struct {
		ControlSelections []oscalSelection `json:"control-selections"`
	}
	oscalSelection struct {
		IncludeControls []oscalControlRef `json:"include-controls,omitempty"`
	}
	oscalControlRef struct {
		ControlID string `json:"control-id"`
	}
	oscalObservation struct {
		UUID        string      `json:"uuid"`
		Title       string      `json:"title,omitempty"`
		Description string      `json:"description"`
		Props       []oscalProp `json:"props,omitempty"`
		Methods     []string    `json:"methods"`
		Collected   string      `json:"collected"`
		Remarks     string      `json:"remarks,omitempty"`
	}
	oscalFinding struct {
		UUID                string            `json:"uuid"`
		Title               string            `json:"title"`
		Description         string            `json:"description"`
		Target              oscalTarget       `json:"target"`
		RelatedObservations []oscalRelatedObs `json:"related-observations,omitempty"`
	}
	oscalTarget struct {
		Type     string      `json:"type"`
		TargetID string      `json:"target-id"`
		Status   oscalStatus `json:"status"`
	}
	oscalStatus struct {
		State  string `json:"state"`
		Reason string `json:"reason,omitempty"`
	}
	oscalRelatedObs struct {
		ObservationUUID string `json:"observation-uuid"`
	}
)

// OSCALOptions says where the assessment plan the results belong to lives.
type OSCALOptions struct {
	// AssessmentPlanHref is the import-ap href (default "#assessment-plan",
	// a placeholder for hosts that keep no OSCAL assessment plan).
	AssessmentPlanHref string
	// Version is the document version (default "1").
	Version string
}

// WriteOSCAL writes the report as an OSCAL 1.0.6 assessment-results
// document for GRC tools: one result, one observation per evidence item and
// one finding per control (satisfied / not-satisfied). UUIDs are name-based
// (v5) under the report's random ID, so the same report always renders the
// same document.
func (r *Report) WriteOSCAL(w io.Writer, opts OSCALOptions) error {
	if opts.AssessmentPlanHref == "" {
		opts.AssessmentPlanHref = "#assessment-plan"
	}
	if opts.Version == "" {
		opts.Version = "1"
	}
	ts := func(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
	base := r.ID
	if base == "" {
		base = ts(r.GeneratedAt)
	}
	verdict := "pass"
	if !r.Pass {
		verdict = "fail"
	}
	res := oscalResult{
		UUID:        uuidV5(base + "/result"),
		Title:       r.Title,
		Description: r.SummaryLine(),
		Start:       ts(r.GeneratedAt),
		End:         ts(r.GeneratedAt),
		Props:       []oscalProp{{Name: "overall-status", Value: verdict, NS: "https://github.com/rampart-sdk/rampart/ns/oscal"}},
	}
	var refs []oscalControlRef
	for _, c := range r.Controls {
		refs = append(refs, oscalControlRef{ControlID: c.ID})
		f := oscalFinding{
			UUID:        uuidV5(base + "/finding/" + c.ID),
			Title:       c.Reference + ": " + c.Title,
			Description: fmt.Sprintf("%s %s; required: %t", c.Framework, c.Reference, c.Required),
			Target: oscalTarget{
				Type:     "objective-id",
				TargetID: c.ID,
				Status:   oscalStatus{State: "satisfied", Reason: "pass"},
			},
		}
		if c.Status != StatusPass {
			f.Target.Status = oscalStatus{State: "not-satisfied", Reason: "fail"}
		}
		for i, e := range c.Results {
			o := oscalObservation{
				UUID:        uuidV5(fmt.Sprintf("%s/observation/%s/%d", base, c.ID, i)),
				Title:       evidenceLabel(e),
				Description: nonEmpty(e.Description, evidenceLabel(e)),
				Methods:     []string{"EXAMINE"},
				Collected:   ts(r.GeneratedAt),
				Props:       []oscalProp{{Name: "evidence-kind", Value: string(e.Kind), NS: "https://github.com/rampart-sdk/rampart/ns/oscal"}},
			}
			if e.Kind == EvidenceCheck {
				o.Methods = []string{"TEST"}
				if e.CheckedAt != nil {
					o.Collected = ts(*e.CheckedAt)
				}
				status := "pass"
				if !e.Pass {
					status = "fail"
				}
				o.Remarks = status + ": " + nonEmpty(e.Details, "-")
			}
			res.Observations = append(res.Observations, o)
			f.RelatedObservations = append(f.RelatedObservations, oscalRelatedObs{ObservationUUID: o.UUID})
		}
		res.Findings = append(res.Findings, f)
	}
	if len(refs) == 0 {
		// The schema requires at least one selection; an empty matrix
		// reviews nothing, which include-controls cannot express empty.
		refs = []oscalControlRef{{ControlID: "none"}}
	}
	res.ReviewedControls = oscalReviewed{ControlSelections: []oscalSelection{{IncludeControls: refs}}}
	doc := oscalDoc{AssessmentResults: oscalAR{
		UUID: uuidV5(base + "/assessment-results"),
		Metadata: oscalMetadata{
			Title:        r.Title,
			LastModified: ts(r.GeneratedAt),
			Version:      opts.Version,
			OSCALVersion: "1.0.6",
		},
		ImportAP: oscalImportAP{Href: opts.AssessmentPlanHref},
		Results:  []oscalResult{res},
	}}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("compliance: write oscal: %w", err)
	}
	return nil
}

func nonEmpty(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// SaveReport stores r's JSON in report history, so what the matrix said on
// a given day can be shown later.
func SaveReport(ctx context.Context, s ReportStore, org string, r *Report) error {
	var buf bytes.Buffer
	if err := r.WriteJSON(&buf); err != nil {
		return err
	}
	return s.SaveReport(ctx, ReportRecord{ID: r.ID, Org: org, GeneratedAt: r.GeneratedAt, Pass: r.Pass, JSON: buf.Bytes()})
}
