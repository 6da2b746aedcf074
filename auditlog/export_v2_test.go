package auditlog_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/mod/sumdb/note"

	"github.com/rampart-sdk/rampart/auditlog"
	"github.com/rampart-sdk/rampart/auditlog/auditlogtest"
)

var allFormats = []auditlog.Format{auditlog.FormatCSV, auditlog.FormatJSON, auditlog.FormatNDJSON}

// cpSink keeps the signed checkpoints a log hands it.
type cpSink struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *cpSink) SaveCheckpoint(_ context.Context, _ string, msg []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf.Write(msg)
	return nil
}

func (s *cpSink) checkpoints(t testing.TB, v note.Verifiers) []auditlog.Checkpoint {
	s.mu.Lock()
	defer s.mu.Unlock()
	cps, err := auditlog.ReadCheckpoints(s.buf.Bytes(), v)
	require.NoError(t, err)
	return cps
}

type exportEnv struct {
	log       *auditlog.Log
	store     memStore
	signer    note.Signer
	verifiers note.Verifiers
	sink      *cpSink
}

func newExportEnv(t testing.TB, every uint64) *exportEnv {
	signer, v := auditlogtest.NewSigner(t, "export.test")
	s := newMemStore()
	sink := &cpSink{}
	l, _ := auditlogtest.NewLog(t, s, auditlog.WithCheckpoints(signer, sink, every, 0))
	return &exportEnv{log: l, store: s, signer: signer, verifiers: note.VerifierList(v), sink: sink}
}

func (x *exportEnv) export(t testing.TB, f auditlog.Format, filter auditlog.Filter, saved ...auditlog.Checkpoint) []byte {
	t.Helper()
	var buf bytes.Buffer
	_, err := auditlog.Export(context.Background(), x.store, &buf, auditlog.ExportOptions{Format: f, Filter: filter, Signer: x.signer, Checkpoints: saved})
	require.NoError(t, err)
	return buf.Bytes()
}

func (x *exportEnv) verify(t testing.TB, data []byte, saved ...auditlog.Checkpoint) (auditlog.ExportReport, error) {
	t.Helper()
	doc, err := auditlog.ParseExport(bytes.NewReader(data))
	require.NoError(t, err)
	return auditlog.VerifyExport(doc, auditlog.ExportVerifyOptions{Verifiers: x.verifiers, Checkpoints: saved})
}

func requireReason(t testing.TB, err error, reason auditlog.Reason, seq uint64, msgAndArgs ...any) *auditlog.VerifyError {
	t.Helper()
	var ve *auditlog.VerifyError
	require.ErrorAs(t, err, &ve, msgAndArgs...)
	require.Equal(t, reason, ve.Reason, msgAndArgs...)
	require.Equal(t, seq, ve.Seq, msgAndArgs...)
	return ve
}

// Payloads with what encoding/json HTML-escapes by default (json.Marshal
// wrote & as \u0026 inside the canonical bytes, so the digest no longer
// matched) verify in every format.
func TestExportHTMLCharactersVerify(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"https://example.com/?a=1&b=2", "<script>", "a > b", "line\u2028separator", "para\u2029separator"} {
		x := newExportEnv(t, 0)
		require.NoError(t, x.log.Record(context.Background(), "acme", "user:u1", "test.created", "doc:1", map[string]any{"v": s, s: 1}))
		for _, f := range allFormats {
			data := x.export(t, f, auditlog.Filter{})
			rep, err := x.verify(t, data)
			require.NoError(t, err, "%s %q", f, s)
			require.Equal(t, 1, rep.Entries)
			if f != auditlog.FormatCSV {
				require.Contains(t, string(data), s, "the payload is embedded verbatim")
			}
		}
	}
}

// Random entries (all of Unicode, every escape, control characters,
// formula prefixes, nested payloads, times before 1970) survive every
// format: the parsed entries are the stored ones, and they verify.
func TestExportRoundTripProperty(t *testing.T) {
	t.Parallel()
	for seed := range uint64(6) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			t.Parallel()
			r := rand.New(rand.NewPCG(seed, 0x5eed))
			x := newExportEnv(t, 7)
			ctx := context.Background()
			orgs := []string{"acme", "globex", ""}
			for range 30 {
				e, err := auditlogtest.RandomEntry(r, orgs, []string{"test.created", "test.job"})
				require.NoError(t, err)
				_, err = x.log.Append(ctx, e)
				require.NoError(t, err)
			}
			if seed%2 == 1 { // pruned payloads export as null and still verify
				_, err := x.store.PrunePayloads(ctx, "org:acme", time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC))
				require.NoError(t, err)
			}
			stored := map[string][]auditlog.Entry{}
			for _, org := range orgs {
				c := auditlog.ChainFor(org)
				stored[c] = auditlogtest.Entries(t, x.store, c)
			}
			saved := x.sink.checkpoints(t, x.verifiers)
			require.NotEmpty(t, saved)
			pick := stored["org:acme"][0]
			for _, filter := range []auditlog.Filter{{}, {Org: "globex"}, {Actor: pick.Actor}, {Target: pick.Target, From: time.Date(1950, 1, 1, 0, 0, 0, 1, time.UTC)}} {
				for _, f := range allFormats {
					data := x.export(t, f, filter, saved...)
					doc, err := auditlog.ParseExport(bytes.NewReader(data))
					require.NoError(t, err, "%s %+v", f, filter)
					require.Equal(t, filter.Org, doc.Filter.Org)
					var want []auditlog.Entry
					for _, c := range []string{"org:acme", "org:globex", auditlog.GlobalChain} {
						for _, e := range stored[c] {
							if (filter.Org == "" || e.Org == filter.Org) && (filter.Actor == "" || e.Actor == filter.Actor) &&
								(filter.Target == "" || e.Target == filter.Target) && !e.Time.Before(filter.From) {
								want = append(want, e)
							}
						}
					}
					got := make([]auditlog.Entry, len(doc.Entries))
					for i, e := range doc.Entries {
						got[i] = e.Entry
					}
					slices.SortStableFunc(got, func(a, b auditlog.Entry) int { return strings.Compare(a.Chain, b.Chain) })
					slices.SortStableFunc(want, func(a, b auditlog.Entry) int { return strings.Compare(a.Chain, b.Chain) })
					require.Equal(t, len(want), len(got), "%s %+v", f, filter)
					for i := range want {
						require.True(t, want[i].Time.Equal(got[i].Time), "%s: time of %d", f, i)
						got[i].Time = want[i].Time
						require.Equal(t, want[i], got[i], "%s %+v", f, filter)
					}
					rep, err := auditlog.VerifyExport(doc, auditlog.ExportVerifyOptions{Verifiers: x.verifiers, Checkpoints: saved})
					require.NoError(t, err, "%s %+v", f, filter)
					require.Equal(t, len(want), rep.Entries)
				}
			}
		})
	}
}

func removeAt[T any](s []T, i int) []T { return append(slices.Clone(s[:i]), s[i+1:]...) }

// An export commits to what it holds: removing, repeating, moving or adding
// any entry, or cutting it short, is reported; before the manifest, an
// unfiltered export with an entry removed still verified.
func TestExportCommitsToItsEntries(t *testing.T) {
	t.Parallel()
	x := newExportEnv(t, 0)
	ctx := context.Background()
	for i := range 8 {
		require.NoError(t, x.log.Record(ctx, "acme", fmt.Sprintf("user:u%d", i%2), "test.created", "doc:1", map[string]any{"i": i}))
	}
	for _, filter := range []auditlog.Filter{{}, {Org: "acme"}, {Actor: "user:u0"}} {
		for _, f := range allFormats {
			name := fmt.Sprintf("%s %+v", f, filter)
			doc, err := auditlog.ParseExport(bytes.NewReader(x.export(t, f, filter)))
			require.NoError(t, err)
			verify := func(entries []auditlog.ExportEntry) error {
				d := *doc
				d.Entries = entries
				_, err := auditlog.VerifyExport(&d, auditlog.ExportVerifyOptions{Verifiers: x.verifiers})
				return err
			}
			require.NoError(t, verify(doc.Entries), name)
			es := doc.Entries
			for i := range es {
				ve := requireReason(t, verify(removeAt(es, i)), auditlog.ReasonMissingEntry, es[i].Seq, "%s: remove %d", name, i)
				require.Contains(t, ve.Detail, "missing")
				dup := slices.Insert(slices.Clone(es), i, es[i])
				requireReason(t, verify(dup), auditlog.ReasonUnexpectedEntry, es[i].Seq, "%s: repeat %d", name, i)
				if i+1 < len(es) {
					sw := slices.Clone(es)
					sw[i], sw[i+1] = sw[i+1], sw[i]
					ve := requireReason(t, verify(sw), auditlog.ReasonUnexpectedEntry, es[i+1].Seq, "%s: swap %d", name, i)
					require.Contains(t, ve.Detail, "out of order")
				}
				// Cut short after entry i.
				requireReason(t, verify(es[:i]), auditlog.ReasonMissingEntry, es[i].Seq, "%s: cut at %d", name, i)
			}
		}
	}
	// An entry of the same chain and checkpoint that the filter left out,
	// added to a filtered export: its proof is good, but the manifest does
	// not list it and the filter does not match it.
	full, err := auditlog.ParseExport(bytes.NewReader(x.export(t, auditlog.FormatNDJSON, auditlog.Filter{})))
	require.NoError(t, err)
	doc, err := auditlog.ParseExport(bytes.NewReader(x.export(t, auditlog.FormatNDJSON, auditlog.Filter{Actor: "user:u0"})))
	require.NoError(t, err)
	rep, err := auditlog.VerifyExport(doc, auditlog.ExportVerifyOptions{Verifiers: x.verifiers})
	require.NoError(t, err)
	require.Equal(t, []auditlog.ExportChainReport{{Chain: "org:acme", Size: 8, Root: rep.Chains[0].Root, Entries: 4, First: 0, Last: 6, FilteredOut: 3}}, rep.Chains)
	for _, extra := range full.Entries {
		if extra.Actor == "user:u0" {
			continue
		}
		d := *doc
		d.Entries = append(slices.Clone(doc.Entries), extra)
		_, err := auditlog.VerifyExport(&d, auditlog.ExportVerifyOptions{Verifiers: x.verifiers})
		requireReason(t, err, auditlog.ReasonUnexpectedEntry, extra.Seq)
	}
	// Changing the recorded filter breaks the header's agreement with the
	// signed manifest.
	d := *doc
	d.Filter.Actor = "user:u1"
	_, err = auditlog.VerifyExport(&d, auditlog.ExportVerifyOptions{Verifiers: x.verifiers})
	require.ErrorIs(t, err, auditlog.ErrBadExport)
}

// The same at the level of the file: an NDJSON line removed, repeated or
// moved, the manifest line removed, or a manifest signed by another key.
func TestExportFileEdits(t *testing.T) {
	t.Parallel()
	x := newExportEnv(t, 0)
	ctx := context.Background()
	for i := range 5 {
		require.NoError(t, x.log.Record(ctx, "acme", "user:u1", "test.created", "doc:1", map[string]any{"i": i}))
	}
	lines := strings.SplitAfter(string(x.export(t, auditlog.FormatNDJSON, auditlog.Filter{})), "\n")
	lines = lines[:len(lines)-1] // the empty string after the last newline
	require.Len(t, lines, 1+1+5+1)
	parse := func(ls []string) (*auditlog.ExportDoc, error) {
		return auditlog.ParseExport(strings.NewReader(strings.Join(ls, "")))
	}
	for i := 2; i < 7; i++ {
		doc, err := parse(removeAt(lines, i))
		require.NoError(t, err)
		_, err = auditlog.VerifyExport(doc, auditlog.ExportVerifyOptions{Verifiers: x.verifiers})
		requireReason(t, err, auditlog.ReasonMissingEntry, uint64(i-2))
	}
	_, err := parse(lines[:7])
	require.ErrorIs(t, err, auditlog.ErrBadExport)
	require.ErrorContains(t, err, "no manifest")
	_, err = parse(append(slices.Clone(lines), lines[3]))
	require.ErrorContains(t, err, "after the manifest")

	// Rewritten and re-signed with another key: the pinned key refuses it.
	other := newExportEnv(t, 0)
	for i := range 5 {
		require.NoError(t, other.log.Record(ctx, "acme", "user:u1", "test.created", "doc:1", map[string]any{"i": i}))
	}
	doc, err := auditlog.ParseExport(bytes.NewReader(other.export(t, auditlog.FormatNDJSON, auditlog.Filter{})))
	require.NoError(t, err)
	_, err = auditlog.VerifyExport(doc, auditlog.ExportVerifyOptions{Verifiers: x.verifiers})
	require.ErrorIs(t, err, auditlog.ErrBadCheckpoint)
	// Only the manifest re-signed by another key.
	mine, err := parse(lines)
	require.NoError(t, err)
	mine.Manifest = doc.Manifest
	_, err = auditlog.VerifyExport(mine, auditlog.ExportVerifyOptions{Verifiers: x.verifiers})
	require.ErrorIs(t, err, auditlog.ErrBadCheckpoint)
	require.ErrorContains(t, err, "manifest")
}

// Saved checkpoints are checked against an export: recomputed from an
// unfiltered export, proven by the consistency proofs a filtered one
// carries, and a truncated or rewritten chain is reported.
func TestExportSavedCheckpoints(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	record := func(x *exportEnv, n int, payload string) {
		for i := range n {
			require.NoError(t, x.log.Record(ctx, "acme", fmt.Sprintf("user:u%d", i%2), "test.created", "doc:1", map[string]any{"i": i, "p": payload}))
		}
	}
	x := newExportEnv(t, 3)
	record(x, 10, "")
	require.NoError(t, x.log.Record(ctx, "globex", "user:u1", "test.created", "doc:1", nil))
	saved := x.sink.checkpoints(t, x.verifiers)
	require.Len(t, saved, 3) // acme at 3, 6 and 9
	for _, f := range allFormats {
		rep, err := x.verify(t, x.export(t, f, auditlog.Filter{}), saved...)
		require.NoError(t, err)
		require.Equal(t, 3, rep.SavedCheckpoints)

		// A filtered export without proofs cannot vouch for them...
		filtered := x.export(t, f, auditlog.Filter{Actor: "user:u1"})
		_, err = x.verify(t, filtered, saved...)
		requireReason(t, err, auditlog.ReasonUnprovenCheckpoint, 2)
		_, err = x.verify(t, filtered)
		require.NoError(t, err)
		// ... with them it does.
		rep, err = x.verify(t, x.export(t, f, auditlog.Filter{Actor: "user:u1"}, saved...), saved...)
		require.NoError(t, err)
		require.Equal(t, 3, rep.SavedCheckpoints)
		rep, err = x.verify(t, x.export(t, f, auditlog.Filter{Org: "globex"}, saved...), saved...)
		require.NoError(t, err)
		require.Equal(t, 3, rep.IgnoredCheckpoints)
	}

	// The same signer, a chain truncated to 5 entries (the same entries:
	// the clocks tick alike): the checkpoints at 6 and 9 say so.
	short := newExportEnv(t, 0)
	short.signer, short.verifiers = x.signer, x.verifiers
	record(short, 5, "")
	for _, filter := range []auditlog.Filter{{}, {Org: "acme"}, {Actor: "user:u1"}} {
		data := short.export(t, auditlog.FormatJSON, filter, saved...)
		_, err := x.verify(t, data, saved[:1]...)
		require.NoError(t, err, "%+v", filter)
		_, err = x.verify(t, data, saved...)
		ve := requireReason(t, err, auditlog.ReasonTruncated, 5, "%+v", filter)
		require.Contains(t, ve.Detail, "truncated")
	}
	// A chain rewritten and re-signed with the same key.
	rewritten := newExportEnv(t, 0)
	rewritten.signer, rewritten.verifiers = x.signer, x.verifiers
	record(rewritten, 10, "rewritten")
	for _, filter := range []auditlog.Filter{{}, {Actor: "user:u1"}} {
		_, err := x.verify(t, rewritten.export(t, auditlog.FormatCSV, filter, saved...), saved...)
		requireReason(t, err, auditlog.ReasonCheckpointMismatch, 2, "%+v", filter)
	}
	// An export of every chain that lacks a chain a checkpoint covers.
	_, err := x.verify(t, short.export(t, auditlog.FormatNDJSON, auditlog.Filter{}), auditlog.Checkpoint{Chain: "org:other", Size: 1})
	requireReason(t, err, auditlog.ReasonTruncated, 0)
}

// Cells a spreadsheet would evaluate are written behind a single quote,
// and read back exactly, including cells that start with a quote.
func TestExportCSVInjection(t *testing.T) {
	t.Parallel()
	x := newExportEnv(t, 0)
	ctx := context.Background()
	nasty := []string{"=HYPERLINK(\"http://evil\")", "+1+1", "-2", "@SUM(A1)", "'quoted", "''twice", "plain"}
	for i, s := range nasty {
		_, err := x.log.Append(ctx, auditlog.Entry{Org: "acme", Actor: "user:" + s, Action: "test.created", Target: s + ":" + s,
			Request: auditlog.Request{IP: s, UserAgent: s, RequestID: s}, Payload: []byte(fmt.Sprintf(`{"i":%d}`, i))})
		require.NoError(t, err)
	}
	data := x.export(t, auditlog.FormatCSV, auditlog.Filter{})
	rows, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
	require.NoError(t, err)
	for _, row := range rows[1:] {
		for _, cell := range row {
			if cell != "" {
				require.NotContains(t, "=+-@\t\r\n\x00", cell[:1], "cell %q", cell)
			}
		}
	}
	doc, err := auditlog.ParseExport(bytes.NewReader(data))
	require.NoError(t, err)
	require.Len(t, doc.Entries, len(nasty))
	for i, e := range doc.Entries {
		require.Equal(t, nasty[i], e.Request.UserAgent)
		require.Equal(t, nasty[i]+":"+nasty[i], e.Target)
	}
	_, err = auditlog.VerifyExport(doc, auditlog.ExportVerifyOptions{Verifiers: x.verifiers})
	require.NoError(t, err)
}

// An export of another version of the format is named as such.
func TestExportUnsupportedVersion(t *testing.T) {
	t.Parallel()
	x := newExportEnv(t, 0)
	require.NoError(t, x.log.Record(context.Background(), "acme", "user:u1", "test.created", "doc:1", nil))
	for _, f := range allFormats {
		for _, v := range []string{"rampart.auditlog.export.v1", "rampart.auditlog.export.v3"} {
			data := strings.ReplaceAll(string(x.export(t, f, auditlog.Filter{})), auditlog.ExportFormatID, v)
			_, err := auditlog.ParseExport(strings.NewReader(data))
			require.ErrorIs(t, err, auditlog.ErrUnsupportedExportVersion, "%s %s", f, v)
			require.ErrorIs(t, err, auditlog.ErrBadExport)
			require.ErrorContains(t, err, v)
		}
	}
	v1CSV := "type,chain,seq,time,org,actor,action,schema_version,target,ip,user_agent,request_id,payload,payload_digest,prev_hash,hash,tree_size,proof,note\n" +
		"header,rampart.auditlog.export.v1,,,,,,,,,,,,,,,,,\n"
	_, err := auditlog.ParseExport(strings.NewReader(v1CSV))
	require.ErrorIs(t, err, auditlog.ErrUnsupportedExportVersion)
}

// The manifest's text has one canonical form.
func TestExportManifestText(t *testing.T) {
	t.Parallel()
	m := auditlog.ExportManifest{Filter: auditlog.Filter{Actor: "user:a&b", From: time.Date(1969, 12, 31, 23, 59, 59, 500, time.UTC)},
		Chains: []auditlog.ManifestChain{{Chain: "org:acme", Size: 10, Count: 6, Seqs: []auditlog.SeqRange{{0, 2}, {5, 5}, {8, 9}}}, {Chain: "system", Size: 0}}}
	text, err := m.Text()
	require.NoError(t, err)
	require.Equal(t, "rampart.auditlog.export.v2\n"+
		`filter {"from":"1969-12-31T23:59:59.0000005Z","actor":"user:a&b"}`+"\n"+
		"chain org:acme 10 AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= 6 0-2,5,8-9\n"+
		"chain system 0 AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= 0 -\n", text)
	back, err := auditlog.ParseExportManifest(text)
	require.NoError(t, err)
	again, err := back.Text()
	require.NoError(t, err)
	require.Equal(t, text, again)
	for _, bad := range []string{
		strings.Replace(text, "0-2,5", "0-2,3", 1),   // touching ranges
		strings.Replace(text, "8-9", "8-10", 1),      // beyond the size
		strings.Replace(text, " 6 0-2", " 7 0-2", 1), // count
		strings.Replace(text, "0-2", "00-2", 1),      // not canonical
		strings.Replace(text, "5,8-9", "8-9,5", 1),   // order
		strings.Replace(text, "filter ", "filter  ", 1),
		strings.TrimSuffix(text, "\n"),
	} {
		_, err := auditlog.ParseExportManifest(bad)
		require.ErrorIs(t, err, auditlog.ErrBadExport, bad)
	}
}

// FuzzExportReader feeds mutated exports to the reader and the verifier:
// neither may panic, and whatever verifies (with the pinned key and the
// saved checkpoints) holds only the stored entries, unaltered.
func FuzzExportReader(f *testing.F) {
	x := newExportEnv(f, 2)
	ctx := context.Background()
	r := rand.New(rand.NewPCG(1, 2))
	for range 6 {
		e, err := auditlogtest.RandomEntry(r, []string{"acme", "globex"}, []string{"test.created"})
		require.NoError(f, err)
		_, err = x.log.Append(ctx, e)
		require.NoError(f, err)
	}
	saved := x.sink.checkpoints(f, x.verifiers)
	stored := map[string]map[uint64]auditlog.Entry{}
	for _, c := range []string{"org:acme", "org:globex"} {
		stored[c] = map[uint64]auditlog.Entry{}
		for _, e := range auditlogtest.Entries(f, x.store, c) {
			stored[c][e.Seq] = e
		}
	}
	for _, format := range allFormats {
		for _, filter := range []auditlog.Filter{{}, {Org: "acme"}, {Action: "test.created", To: time.Now()}} {
			f.Add(x.export(f, format, filter, saved...))
		}
	}
	f.Add([]byte(`{"type":"header","format":"rampart.auditlog.export.v2","filter":{}}` + "\n"))
	f.Add([]byte(strings.Join(append(slices.Clone([]string{"type", "chain"}), make([]string, 20)...), ",") + "\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := auditlog.ParseExport(bytes.NewReader(data))
		if err != nil {
			return
		}
		if _, err := auditlog.VerifyExport(doc, auditlog.ExportVerifyOptions{Verifiers: x.verifiers, Checkpoints: saved}); err != nil {
			return
		}
		for _, e := range doc.Entries {
			want, ok := stored[e.Chain][e.Seq]
			require.True(t, ok, "a verified export holds entry %s/%d, which was never stored", e.Chain, e.Seq)
			require.Equal(t, want.Hash, e.Hash)
			require.Equal(t, want.Actor, e.Actor)
			if e.Payload != nil {
				require.Equal(t, want.Payload, e.Payload)
			}
		}
	})
}

// Times at the edges of the range an entry may have export and read back
// exactly: before 1970 the microsecond counts forward from the second
// before, and years 0000 and 9999 keep four digits.
func TestExportTimesAtTheEdges(t *testing.T) {
	t.Parallel()
	x := newExportEnv(t, 0)
	times := []time.Time{
		time.UnixMicro(-1).UTC(),
		time.Date(1969, 12, 31, 23, 59, 59, 999999499, time.UTC),
		time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC), // MinTimeMicros
		time.Date(0, 2, 29, 12, 0, 0, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC), // MaxTimeMicros
	}
	for _, at := range times {
		_, err := x.log.Append(context.Background(), auditlog.Entry{Org: "acme", Actor: "user:u", Action: "test.created", Time: at})
		require.NoError(t, err)
	}
	for _, f := range allFormats {
		data := x.export(t, f, auditlog.Filter{})
		doc, err := auditlog.ParseExport(bytes.NewReader(data))
		require.NoError(t, err, f)
		require.Len(t, doc.Entries, len(times))
		for i, e := range doc.Entries {
			require.Equal(t, times[i].Truncate(0).UnixMicro(), e.Time.UnixMicro(), "%s %d", f, i)
		}
		_, err = auditlog.VerifyExport(doc, auditlog.ExportVerifyOptions{Verifiers: x.verifiers})
		require.NoError(t, err, f)
	}
	require.Contains(t, string(x.export(t, auditlog.FormatNDJSON, auditlog.Filter{})), `"time":"1969-12-31T23:59:59.999999Z"`)
	for _, bad := range []string{"0000-02-29T00:00:00.000000Z", "0001-02-29T00:00:00.000000Z", "-005-01-01T00:00:00.000000Z", "+2000-01-01T00:00:00.000000Z", "02000-01-01T00:00:00.000000Z"} {
		data := strings.Replace(string(x.export(t, auditlog.FormatNDJSON, auditlog.Filter{})), "1969-12-31T23:59:59.999999Z", bad, 1)
		_, err := auditlog.ParseExport(strings.NewReader(data))
		if bad == "0000-02-29T00:00:00.000000Z" {
			require.NoError(t, err, "year 0 is a leap year")
			continue
		}
		require.ErrorIs(t, err, auditlog.ErrBadExport, bad)
	}
}

// Exports of nothing: an empty store, an organisation without entries.
func TestExportEmpty(t *testing.T) {
	t.Parallel()
	x := newExportEnv(t, 0)
	for _, filter := range []auditlog.Filter{{}, {Org: "nosuch"}} {
		for _, f := range allFormats {
			rep, err := x.verify(t, x.export(t, f, filter))
			require.NoError(t, err, "%s %+v", f, filter)
			require.Zero(t, rep.Entries)
		}
	}
	// A filter the header cannot write is refused before anything is.
	var buf bytes.Buffer
	_, err := auditlog.Export(context.Background(), x.store, &buf, auditlog.ExportOptions{Format: auditlog.FormatNDJSON,
		Filter: auditlog.Filter{From: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}, Signer: x.signer})
	require.ErrorContains(t, err, "RFC 3339")
	require.Zero(t, buf.Len())
	// A saved checkpoint of the organisation's chain makes its empty
	// export a truncation.
	_, err = x.verify(t, x.export(t, auditlog.FormatJSON, auditlog.Filter{Org: "nosuch"}), auditlog.Checkpoint{Chain: "org:nosuch", Size: 2})
	requireReason(t, err, auditlog.ReasonTruncated, 0)
}

// A record carrying a member of another record type (text an auditor
// would see but no check covers) is refused.
func TestExportStrayMembers(t *testing.T) {
	t.Parallel()
	x := newExportEnv(t, 0)
	require.NoError(t, x.log.Record(context.Background(), "acme", "user:u1", "test.created", "doc:1", nil))
	nd := string(x.export(t, auditlog.FormatNDJSON, auditlog.Filter{}))
	for _, edit := range [][2]string{
		{`{"type":"entry",`, `{"type":"entry","note":"all fine",`},
		{`{"type":"checkpoint",`, `{"type":"checkpoint","seq":1,`},
		{`{"type":"header",`, `{"type":"header","chain":"x",`},
		{`{"type":"entry",`, `{"type":"entry","comment":"x",`},
		{`"chain":"org:acme","seq"`, `"chain":"org:acme\u001b[2J","seq"`}, // a terminal escape in a name that gets printed
	} {
		_, err := auditlog.ParseExport(strings.NewReader(strings.Replace(nd, edit[0], edit[1], 1)))
		require.ErrorIs(t, err, auditlog.ErrBadExport, edit[1])
	}
	rows, err := csv.NewReader(bytes.NewReader(x.export(t, auditlog.FormatCSV, auditlog.Filter{}))).ReadAll()
	require.NoError(t, err)
	for i, row := range rows {
		if row[0] == "entry" {
			rows[i][18] = "all fine" // the note column
		}
	}
	var buf bytes.Buffer
	require.NoError(t, csv.NewWriter(&buf).WriteAll(rows))
	_, err = auditlog.ParseExport(&buf)
	require.ErrorIs(t, err, auditlog.ErrBadExport)
	require.ErrorContains(t, err, "note cell")
}
