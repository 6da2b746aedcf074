package compliance_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/compliance"
)

var t0 = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

func fixedClock() time.Time { return t0 }

func pass(context.Context) compliance.CheckResult {
	return compliance.CheckResult{Pass: true, Details: "ok"}
}

// fullMatrix returns the GDPR+CCPA matrix with every slot passing.
func fullMatrix(t *testing.T) *compliance.Matrix {
	t.Helper()
	m, err := compliance.NewMatrix(append(compliance.GDPRCatalog(), compliance.CCPACatalog()...), compliance.WithClock(fixedClock))
	require.NoError(t, err)
	for slot := range m.Slots() {
		require.NoError(t, m.Fill(slot, pass))
	}
	return m
}

func control(r *compliance.Report, id string) compliance.ControlResult {
	for _, c := range r.Controls {
		if c.ID == id {
			return c
		}
	}
	return compliance.ControlResult{}
}

func TestCatalogsCoverTheArticles(t *testing.T) {
	t.Parallel()
	refs := map[string]bool{}
	for _, c := range compliance.GDPRCatalog() {
		refs[c.Reference] = true
		require.True(t, c.Required)
		require.NotEmpty(t, c.Evidence)
	}
	for _, art := range []string{"6", "7", "12(3)", "13", "14", "15", "16", "17", "20", "25", "30", "32(1)(a)", "32(1)(b)", "32(1)(d)", "33"} {
		require.True(t, refs["GDPR Art. "+art], "missing GDPR Art. %s", art)
	}
	slots := map[string]bool{}
	for _, c := range append(compliance.GDPRCatalog(), compliance.CCPACatalog()...) {
		for _, e := range c.Evidence {
			if e.Kind == compliance.EvidenceCheck {
				slots[e.Slot] = true
			}
		}
	}
	for _, s := range []string{compliance.SlotAuditChainVerifies, compliance.SlotKeyringGuardrail, compliance.SlotRoutesDeclarePermission,
		compliance.SlotStaffMFA, compliance.SlotErasureSweeper, compliance.SlotRecordsOfProcessing, compliance.SlotConsentGate,
		compliance.SlotRetentionPolicies, compliance.SlotJobsHealthy, compliance.SlotTenantIsolation} {
		require.True(t, slots[s], s)
		delete(slots, s)
	}
	require.Empty(t, slots, "a catalog slot without an exported Slot constant")
}

func TestAllPassingMatrixPasses(t *testing.T) {
	t.Parallel()
	r := fullMatrix(t).Evaluate(context.Background())
	require.True(t, r.Pass, r.SummaryLine())
	require.Equal(t, r.Summary.Controls, r.Summary.Passed)
	require.True(t, strings.HasPrefix(r.SummaryLine(), "PASS: "))
	for _, c := range r.Controls {
		for _, e := range c.Results {
			if e.Kind == compliance.EvidenceCheck {
				require.NotNil(t, e.CheckedAt)
				require.Equal(t, t0, *e.CheckedAt)
			}
		}
	}
}

// TestFailingCheckTurnsControlRed breaks one slot and expects every control
// that depends on it, and the report, to fail.
func TestFailingCheckTurnsControlRed(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		check compliance.Check
		want  string
	}{
		{"fails", func(context.Context) compliance.CheckResult {
			return compliance.CheckResult{Pass: false, Details: "erasure sweeper overdue by 3d"}
		}, "overdue by 3d"},
		{"error", compliance.CheckErr(func(context.Context) error { return errors.New("2 requests past deadline") }), "past deadline"},
		{"panics", func(context.Context) compliance.CheckResult { panic("boom") }, "panicked"},
		{"fails silently", func(context.Context) compliance.CheckResult { return compliance.CheckResult{} }, "without details"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m := fullMatrix(t)
			require.NoError(t, m.Fill(compliance.SlotErasureSweeper, tc.check))
			r := m.Evaluate(context.Background())
			require.False(t, r.Pass)
			c := control(r, "gdpr-art-17")
			require.Equal(t, compliance.StatusFail, c.Status)
			require.Contains(t, c.Results[0].Details, tc.want)
			require.Equal(t, compliance.StatusFail, control(r, "ccpa-1798.105").Status)
			require.Equal(t, compliance.StatusPass, control(r, "gdpr-art-30").Status)
			require.Contains(t, r.SummaryLine(), "gdpr-art-17")
			var md bytes.Buffer
			require.NoError(t, r.WriteMarkdown(&md))
			require.Contains(t, md.String(), "❌ fail | gdpr-art-17")
			require.Contains(t, md.String(), "## Failing controls")
		})
	}
}

func TestUnfilledRequiredSlotFails(t *testing.T) {
	t.Parallel()
	m, err := compliance.NewMatrix(compliance.GDPRCatalog(), compliance.WithClock(fixedClock))
	require.NoError(t, err)
	for slot := range m.Slots() {
		if slot != compliance.SlotStaffMFA {
			require.NoError(t, m.Fill(slot, pass))
		}
	}
	require.False(t, m.Slots()[compliance.SlotStaffMFA])
	r := m.Evaluate(context.Background())
	require.False(t, r.Pass)
	c := control(r, "gdpr-art-32-1-b")
	require.Equal(t, compliance.StatusFail, c.Status)
	require.Equal(t, 1, r.Summary.RequiredFailed)
}

func TestOptionalFailingControlDoesNotFailReport(t *testing.T) {
	t.Parallel()
	m, err := compliance.NewMatrix([]compliance.Control{
		{ID: "a", Framework: "X", Reference: "X 1", Title: "req", Required: true, Evidence: []compliance.Evidence{{Kind: compliance.EvidenceCheck, Slot: "s1"}}},
		{ID: "b", Framework: "X", Reference: "X 2", Title: "opt", Evidence: []compliance.Evidence{{Kind: compliance.EvidenceCheck, Slot: "s2"}}},
		{ID: "c", Framework: "X", Reference: "X 3", Title: "doc", Required: true, Evidence: []compliance.Evidence{{Kind: compliance.EvidenceDocument, Ref: "https://example.com/policy"}}},
	}, compliance.WithClock(fixedClock))
	require.NoError(t, err)
	require.NoError(t, m.Fill("s1", pass))
	r := m.Evaluate(context.Background())
	require.True(t, r.Pass)
	require.Equal(t, 1, r.Summary.Failed)
	require.Equal(t, 0, r.Summary.RequiredFailed)
}

func TestHungCheckFailsWithinTimeout(t *testing.T) {
	t.Parallel()
	m, err := compliance.NewMatrix(compliance.GDPRCatalog(), compliance.WithClock(fixedClock), compliance.WithCheckTimeout(50*time.Millisecond))
	require.NoError(t, err)
	for slot := range m.Slots() {
		require.NoError(t, m.Fill(slot, pass))
	}
	block := make(chan struct{})
	defer close(block)
	require.NoError(t, m.Fill(compliance.SlotAuditChainVerifies, func(context.Context) compliance.CheckResult {
		<-block // ignores ctx: the matrix must abandon it
		return compliance.CheckResult{Pass: true}
	}))
	start := time.Now()
	r := m.Evaluate(context.Background())
	require.Less(t, time.Since(start), 5*time.Second)
	require.False(t, r.Pass)
	require.Contains(t, control(r, "gdpr-art-7").Results[1].Details, "did not finish")
}

func TestMatrixRejectsBadCatalogs(t *testing.T) {
	t.Parallel()
	for name, cs := range map[string][]compliance.Control{
		"bad id":       {{ID: "1abc", Evidence: []compliance.Evidence{{Kind: compliance.EvidenceCode, Ref: "x"}}}},
		"space id":     {{ID: "a b"}},
		"duplicate":    {{ID: "a"}, {ID: "a"}},
		"no slot":      {{ID: "a", Evidence: []compliance.Evidence{{Kind: compliance.EvidenceCheck}}}},
		"no ref":       {{ID: "a", Evidence: []compliance.Evidence{{Kind: compliance.EvidenceDocument}}}},
		"unknown kind": {{ID: "a", Evidence: []compliance.Evidence{{Kind: "vibes", Ref: "x"}}}},
	} {
		_, err := compliance.NewMatrix(cs)
		require.ErrorIs(t, err, compliance.ErrInvalidControl, name)
	}
	m, err := compliance.NewMatrix(compliance.GDPRCatalog())
	require.NoError(t, err)
	require.ErrorIs(t, m.Fill("auditlog.chain-verfies", pass), compliance.ErrUnknownSlot)
	require.ErrorIs(t, m.Fill(compliance.SlotStaffMFA, nil), compliance.ErrUnknownSlot)
}

func TestEmptyReportDoesNotPass(t *testing.T) {
	t.Parallel()
	m, err := compliance.NewMatrix(nil)
	require.NoError(t, err)
	require.False(t, m.Evaluate(context.Background()).Pass)
}

func TestReportJSONRoundTrip(t *testing.T) {
	t.Parallel()
	m := fullMatrix(t)
	require.NoError(t, m.Fill(compliance.SlotConsentGate, func(context.Context) compliance.CheckResult {
		return compliance.CheckResult{Pass: false, Details: "no consent gate on /signup"}
	}))
	r := m.Evaluate(context.Background())
	var buf bytes.Buffer
	require.NoError(t, r.WriteJSON(&buf))
	got, err := compliance.ReadReport(&buf)
	require.NoError(t, err)
	require.Equal(t, r.Pass, got.Pass)
	require.Equal(t, r.Summary, got.Summary)
	require.Equal(t, r.SummaryLine(), got.SummaryLine())
}

// TestReadReportRecomputesVerdict hand-edits a failing report to claim it
// passes; reading it must not be fooled.
func TestReadReportRecomputesVerdict(t *testing.T) {
	t.Parallel()
	m := fullMatrix(t)
	require.NoError(t, m.Fill(compliance.SlotStaffMFA, func(context.Context) compliance.CheckResult {
		return compliance.CheckResult{Pass: false, Details: "3 staff without MFA"}
	}))
	var buf bytes.Buffer
	require.NoError(t, m.Evaluate(context.Background()).WriteJSON(&buf))

	var raw map[string]any
	require.NoError(t, json.Unmarshal(buf.Bytes(), &raw))
	raw["pass"] = true
	raw["summary"] = map[string]any{"controls": 1, "passed": 1}
	edited, _ := json.Marshal(raw)
	r, err := compliance.ReadReport(bytes.NewReader(edited))
	require.NoError(t, err)
	require.False(t, r.Pass)

	// A failing control edited to "pass" while its evidence still fails.
	s := strings.Replace(buf.String(), `"status": "fail"`, `"status": "pass"`, 1)
	_, err = compliance.ReadReport(strings.NewReader(s))
	require.ErrorIs(t, err, compliance.ErrInvalidReport)

	for _, bad := range []string{``, `{}`, `{"version":1,"controls":[{"id":"a","status":"maybe"}]}`, `{"version":1,"extra":1}`, `{"version":1} {}`, `[]`} {
		_, err := compliance.ReadReport(strings.NewReader(bad))
		require.ErrorIs(t, err, compliance.ErrInvalidReport, bad)
	}
}

func oscalSchema(t testing.TB) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open("testdata/oscal_assessment-results_schema-1.0.6.json")
	require.NoError(t, err)
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	require.NoError(t, err)
	liftRefSiblings(doc)
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	const id = "http://csrc.nist.gov/ns/oscal/1.0.6/oscal-ar-schema.json"
	require.NoError(t, c.AddResource(id, doc))
	sch, err := c.Compile(id)
	require.NoError(t, err)
	return sch
}

// liftRefSiblings works around a quirk of NIST's generated schema: several
// definitions carry "$id": "#name" next to "$ref", and draft-07 says siblings
// of "$ref" are ignored, so a strict validator never sees those anchors. The
// intent is plain: the definition is named and equals the referenced one. We
// keep the file byte-for-byte as published and move each such "$ref" into an
// "allOf", which draft-07 does not ignore.
func liftRefSiblings(v any) {
	switch x := v.(type) {
	case map[string]any:
		if id, ok := x["$id"].(string); ok && strings.HasPrefix(id, "#") {
			if ref, ok := x["$ref"]; ok {
				delete(x, "$ref")
				x["allOf"] = append([]any{map[string]any{"$ref": ref}}, anySlice(x["allOf"])...)
			}
		}
		for _, e := range x {
			liftRefSiblings(e)
		}
	case []any:
		for _, e := range x {
			liftRefSiblings(e)
		}
	}
}

func anySlice(v any) []any {
	s, _ := v.([]any)
	return s
}

func TestOSCALValidatesAgainstSchema(t *testing.T) {
	t.Parallel()
	sch := oscalSchema(t)
	failing := fullMatrix(t)
	require.NoError(t, failing.Fill(compliance.SlotKeyringGuardrail, func(context.Context) compliance.CheckResult {
		return compliance.CheckResult{Pass: false, Details: `column "users.ssn" is <plaintext> | "quoted"`}
	}))
	empty, err := compliance.NewMatrix(nil, compliance.WithClock(fixedClock))
	require.NoError(t, err)
	for name, r := range map[string]*compliance.Report{
		"passing": fullMatrix(t).Evaluate(context.Background()),
		"failing": failing.Evaluate(context.Background()),
		"empty":   empty.Evaluate(context.Background()),
	} {
		var buf bytes.Buffer
		require.NoError(t, r.WriteOSCAL(&buf, compliance.OSCALOptions{}))
		inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(buf.Bytes()))
		require.NoError(t, err)
		require.NoError(t, sch.Validate(inst), name)

		var again bytes.Buffer
		require.NoError(t, r.WriteOSCAL(&again, compliance.OSCALOptions{}))
		require.Equal(t, buf.String(), again.String(), "deterministic UUIDs")
		if name == "failing" {
			require.Contains(t, buf.String(), `"not-satisfied"`)
		}
	}
}

// TestOSCALSchemaRejectsBrokenDocument proves the validation has teeth.
func TestOSCALSchemaRejectsBrokenDocument(t *testing.T) {
	t.Parallel()
	sch := oscalSchema(t)
	var buf bytes.Buffer
	require.NoError(t, fullMatrix(t).Evaluate(context.Background()).WriteOSCAL(&buf, compliance.OSCALOptions{}))
	good := buf.String()
	var doc map[string]any
	require.NoError(t, json.Unmarshal(buf.Bytes(), &doc))
	ar := doc["assessment-results"].(map[string]any)
	for name, broken := range map[string]string{
		"version type": strings.Replace(good, `"oscal-version": "1.0.6"`, `"oscal-version": 106`, 1),
		"uuid":         strings.Replace(good, ar["uuid"].(string), "not-a-uuid", 1),
		"state":        strings.Replace(good, `"state": "satisfied"`, `"state": "fine"`, 1),
		"date":         strings.Replace(good, `"last-modified": "2026-03-02T10:00:00Z"`, `"last-modified": "2026-03-02 10:00"`, 1),
		"no import-ap": strings.Replace(good, `"import-ap"`, `"import-xx"`, 1),
	} {
		require.NotEqual(t, good, broken, name)
		inst, err := jsonschema.UnmarshalJSON(strings.NewReader(broken))
		require.NoError(t, err)
		require.Error(t, sch.Validate(inst), name)
	}
}

func FuzzReadReport(f *testing.F) {
	m, _ := compliance.NewMatrix(compliance.CCPACatalog(), compliance.WithClock(fixedClock))
	var buf bytes.Buffer
	_ = m.Evaluate(context.Background()).WriteJSON(&buf)
	f.Add(buf.Bytes())
	f.Add([]byte(`{"version":1,"controls":[{"id":"a","status":"pass","results":[{"kind":"code","ref":"x","pass":true}]}]}`))
	f.Add([]byte(`{"version":1,"pass":true,"controls":[]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := compliance.ReadReport(bytes.NewReader(b))
		if err != nil {
			return
		}
		// Invariant: a report read back never passes with a failing required control.
		for _, c := range r.Controls {
			if c.Required && c.Status != compliance.StatusPass && r.Pass {
				t.Fatalf("pass with failing required control %s", c.ID)
			}
		}
		var out bytes.Buffer
		if err := r.WriteMarkdown(&out); err != nil {
			t.Fatal(err)
		}
	})
}

func TestSaveReportHistory(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := compliance.NewMemoryStore()
	r := fullMatrix(t).Evaluate(ctx)
	require.NoError(t, compliance.SaveReport(ctx, s, "org1", r))
	got, err := s.Reports(ctx, "org1", 1)
	require.NoError(t, err)
	require.Len(t, got, 1)
	back, err := compliance.ReadReport(bytes.NewReader(got[0].JSON))
	require.NoError(t, err)
	require.Equal(t, r.ID, back.ID)
	require.True(t, back.Pass)
}

// TestMatrixOptionsAreValidated: an option out of range fails NewMatrix
// with ErrInvalidConfig instead of silently keeping the default.
func TestMatrixOptionsAreValidated(t *testing.T) {
	t.Parallel()
	for name, opt := range map[string]compliance.MatrixOption{
		"nil clock":          compliance.WithClock(nil),
		"zero timeout":       compliance.WithCheckTimeout(0),
		"negative timeout":   compliance.WithCheckTimeout(-time.Second),
		"hour-long timeout":  compliance.WithCheckTimeout(time.Hour),
		"empty title":        compliance.WithTitle(""),
		"title with newline": compliance.WithTitle("a\n# injected"),
		"title too long":     compliance.WithTitle(strings.Repeat("t", 257)),
		"title not utf-8":    compliance.WithTitle("bad \xff"),
		"nil option":         nil,
	} {
		_, err := compliance.NewMatrix(compliance.GDPRCatalog(), opt)
		require.ErrorIs(t, err, compliance.ErrInvalidConfig, name)
	}
	_, err := compliance.NewMatrix(compliance.GDPRCatalog(), compliance.WithCheckTimeout(10*time.Minute), compliance.WithTitle("ok"))
	require.NoError(t, err)
}
