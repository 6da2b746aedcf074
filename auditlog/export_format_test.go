package auditlog_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rampart-sdk/rampart/auditlog"
	"github.com/stretchr/testify/require"
	"golang.org/x/mod/sumdb/note"
)

func exportFixture(t testing.TB) (*auditlog.Log, note.Verifiers, string) {
	skey, vkey, err := auditlog.NewSigningKey("export.test")
	require.NoError(t, err)
	signer, err := note.NewSigner(skey)
	require.NoError(t, err)
	v, err := note.NewVerifier(vkey)
	require.NoError(t, err)
	s := auditlog.NewMemoryStore()
	l, err := auditlog.New(s, auditlog.WithClock(fixedClock()), auditlog.WithCheckpoints(signer, nil, 0, 0))
	require.NoError(t, err)
	require.NoError(t, l.Register(testActions...))
	ctx := context.Background()
	for i := range 9 {
		org := []string{"acme", "globex", ""}[i%3]
		require.NoError(t, l.Record(ctx, org, fmt.Sprintf("user:u%d", i%2), "user.login", "session:s", map[string]any{"i": i, "note": "a,b \"c\"\nd"}))
	}
	return l, note.VerifierList(v), vkey
}

func TestExportRoundTripAllFormats(t *testing.T) {
	t.Parallel()
	l, verifiers, _ := exportFixture(t)
	ctx := context.Background()
	for _, f := range []auditlog.Format{auditlog.FormatCSV, auditlog.FormatJSON, auditlog.FormatNDJSON} {
		for _, tc := range []struct {
			filter auditlog.Filter
			want   int
		}{
			{auditlog.Filter{}, 9},
			{auditlog.Filter{Org: "acme"}, 3},
			{auditlog.Filter{Actor: "user:u1"}, 4},
			{auditlog.Filter{Action: "role.changed"}, 0},
			{auditlog.Filter{Target: "session:s", To: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC), From: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)}, 9},
		} {
			var buf bytes.Buffer
			n, err := l.Export(ctx, &buf, f, tc.filter)
			require.NoError(t, err)
			require.Equal(t, tc.want, n, "%s %+v", f, tc.filter)
			doc, err := auditlog.ParseExport(bytes.NewReader(buf.Bytes()))
			require.NoError(t, err, f)
			rep, err := auditlog.VerifyExport(doc, auditlog.ExportVerifyOptions{Verifiers: verifiers})
			require.NoError(t, err, f)
			require.Equal(t, tc.want, rep.Entries)
		}
	}
}

func TestExportTamperDetected(t *testing.T) {
	t.Parallel()
	l, verifiers, _ := exportFixture(t)
	var buf bytes.Buffer
	_, err := l.Export(context.Background(), &buf, auditlog.FormatNDJSON, auditlog.Filter{Org: "acme"})
	require.NoError(t, err)
	for _, tc := range []struct {
		name, from, to string
		reason         auditlog.Reason
	}{
		{"actor", `"actor":"user:u1"`, `"actor":"user:u9"`, auditlog.ReasonHashMismatch},
		{"payload", `"i":3`, `"i":4`, auditlog.ReasonPayloadMismatch},
	} {
		doc, err := auditlog.ParseExport(strings.NewReader(strings.Replace(buf.String(), tc.from, tc.to, 1)))
		require.NoError(t, err)
		_, err = auditlog.VerifyExport(doc, auditlog.ExportVerifyOptions{Verifiers: verifiers})
		var ve *auditlog.VerifyError
		require.ErrorAs(t, err, &ve, tc.name)
		require.Equal(t, tc.reason, ve.Reason)
	}
	// A checkpoint signed by someone else.
	_, other, err := auditlog.NewSigningKey("export.test")
	require.NoError(t, err)
	ov, err := note.NewVerifier(other)
	require.NoError(t, err)
	doc, err := auditlog.ParseExport(bytes.NewReader(buf.Bytes()))
	require.NoError(t, err)
	_, err = auditlog.VerifyExport(doc, auditlog.ExportVerifyOptions{Verifiers: note.VerifierList(ov)})
	require.ErrorIs(t, err, auditlog.ErrBadCheckpoint)
	// No pinned key: nothing is trusted, the export's own key least of all.
	_, err = auditlog.VerifyExport(doc, auditlog.ExportVerifyOptions{})
	require.ErrorIs(t, err, auditlog.ErrBadCheckpoint)
	_, err = auditlog.VerifyExport(doc, auditlog.ExportVerifyOptions{Verifiers: note.VerifierList()})
	require.ErrorIs(t, err, auditlog.ErrBadCheckpoint)
	_, err = auditlog.VerifyExport(doc, auditlog.ExportVerifyOptions{Verifiers: verifiers})
	require.NoError(t, err)
}

func FuzzParseExport(f *testing.F) {
	l, verifiers, _ := exportFixture(f)
	for _, format := range []auditlog.Format{auditlog.FormatCSV, auditlog.FormatJSON, auditlog.FormatNDJSON} {
		var buf bytes.Buffer
		_, err := l.Export(context.Background(), &buf, format, auditlog.Filter{Org: "acme"})
		require.NoError(f, err)
		f.Add(buf.Bytes())
	}
	f.Add([]byte(`{"type":"header"}`))
	f.Add([]byte("type,chain\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := auditlog.ParseExport(bytes.NewReader(data))
		if err != nil {
			return
		}
		_, _ = auditlog.VerifyExport(doc, auditlog.ExportVerifyOptions{Verifiers: verifiers})
	})
}
