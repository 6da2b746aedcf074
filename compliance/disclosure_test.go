package compliance_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/compliance"
)

// TestDisclosureFixtures runs every fixture: pass_* must pass, fail_* fail.
func TestDisclosureFixtures(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("testdata/disclosure/*")
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(files), 10)
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b, err := os.ReadFile(f)
			require.NoError(t, err)
			r := compliance.CheckDisclosure(string(b))
			require.Equal(t, strings.HasPrefix(name, "pass_"), r.Pass, r.Reason)
			require.NotEmpty(t, r.Reason)
		})
	}
}

func TestDisclosureReasons(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in, reason string
		pass       bool
	}{
		{"#ad new shoes https://x.example", "clear disclosure", true},
		{"AD: new shoes https://x.example", "clear disclosure", true},
		{"#Sponsored by Acme https://x.example", "clear disclosure", true},
		{"We may earn a commission from links. https://x.example", "clear disclosure", true},
		{"#sp new shoes https://x.example", "ambiguous", false},
		{"#spon new shoes", "ambiguous", false},
		{"#adventure time https://x.example", "no disclosure", false},
		{"bad: https://x.example", "no disclosure", false},
		{"shoes https://x.example #ad", "after the first link", false},
		{strings.Repeat("lovely day. ", 30) + "#ad", "buried", false},
		{"This isn't sponsored! https://x.example", "no disclosure", false},
		{"This is not an ad https://x.example", "no disclosure", false},
		{"[shop](https://x.example/#ad)", "no disclosure", false},
		{"", "no disclosure", false},
		{"not sponsored#ad https://x.example", "no disclosure", false},
		{"not sponsoredad: https://x.example", "no disclosure", false},
		{"not sponsored #ad https://x.example", "clear disclosure", true},
	} {
		r := compliance.CheckDisclosure(tc.in)
		require.Equal(t, tc.pass, r.Pass, "%q: %s", tc.in, r.Reason)
		require.Contains(t, r.Reason, tc.reason, tc.in)
	}
}

func TestDisclosureJudge(t *testing.T) {
	t.Parallel()
	content := map[string][]string{
		"good":  {"#ad one https://x.example", "Paid partnership with Y https://y.example"},
		"mixed": {"#ad one https://x.example", "two https://x.example #ad"},
		"quiet": nil,
	}
	judge := compliance.DisclosureJudge(func(_ context.Context, _, m string, _ compliance.Period) ([]string, error) {
		return content[m], nil
	})
	v, err := judge(context.Background(), "o", "good", period("W1"))
	require.NoError(t, err)
	require.True(t, v.Pass)
	v, err = judge(context.Background(), "o", "mixed", period("W1"))
	require.NoError(t, err)
	require.False(t, v.Pass)
	require.Contains(t, v.Reason, "1 of 2 items")
	require.Contains(t, v.Reason, "item 2")
	v, err = judge(context.Background(), "o", "quiet", period("W1"))
	require.NoError(t, err)
	require.True(t, v.Pass)
}

// TestFTCDisclosureAudit runs the worked example end to end: an affiliate
// who keeps burying the disclosure climbs notice -> hold -> terminate.
func TestFTCDisclosureAudit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := compliance.NewMemoryStore()
	rec := &recorder{}
	var held, terminated []string
	au := compliance.FTCDisclosureAudit(
		func(context.Context, string, compliance.Period) ([]string, error) {
			return []string{"alice", "bob"}, nil
		},
		func(_ context.Context, _, m string, _ compliance.Period) ([]string, error) {
			if m == "alice" {
				return []string{"#ad my tent https://x.example"}, nil
			}
			return []string{"my tent https://x.example #sp"}, nil
		},
		func(_ context.Context, tr compliance.Transition) error {
			switch tr.ToStep {
			case "hold-commissions":
				held = append(held, tr.Member)
			case "terminate":
				terminated = append(terminated, tr.Member)
			}
			return nil
		})
	a := newAuditor(t, store, rec)
	for _, w := range []string{"2026-W01", "2026-W02", "2026-W02", "2026-W03"} {
		_, err := a.Run(ctx, "org1", au, period(w))
		require.NoError(t, err)
	}
	require.Equal(t, []string{"bob"}, held)
	require.Equal(t, []string{"bob"}, terminated)
	esc := rec.actions(compliance.ActionAuditEscalated)
	require.Len(t, esc, 3)
	require.Equal(t, "affiliate:bob", esc[0].target)
	require.Contains(t, esc[0].payload["reason"], "ambiguous")
}

func FuzzCheckDisclosure(f *testing.F) {
	files, _ := filepath.Glob("testdata/disclosure/*")
	for _, p := range files {
		b, _ := os.ReadFile(p)
		f.Add(string(b))
	}
	f.Add("#ad")
	f.Add("<!-- ")
	f.Add("\xff#ad https://")
	f.Fuzz(func(t *testing.T, s string) {
		r := compliance.CheckDisclosure(s)
		if r.Pass && (r.Phrase == "" || r.Offset < 0 || r.Offset > compliance.DisclosureTopWindow) {
			t.Fatalf("pass without a phrase near the top: %+v", r)
		}
		if r != compliance.CheckDisclosure(s) {
			t.Fatal("not deterministic")
		}
	})
}

// TestDisclosureAdversarialInputIsFast: many negated matches and a long
// unbroken token must not make the checker quadratic.
func TestDisclosureAdversarialInputIsFast(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		strings.Repeat("not sponsored ", 80_000),
		"https://x.example/" + strings.Repeat("a#ad", 250_000),
	} {
		start := time.Now()
		r := compliance.CheckDisclosure(in)
		require.False(t, r.Pass)
		require.Less(t, time.Since(start), 10*time.Second)
	}
}
