package privacy_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/privacy"
)

// countingWriter counts bytes written, to prove the export streams.
type countingWriter struct {
	buf bytes.Buffer
	n   int
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.n += len(p)
	return w.buf.Write(p)
}

func exportFixture(t *testing.T, records int, out *countingWriter) *services {
	t.Helper()
	ctx := context.Background()
	clk := newClock()
	m := newServices(t, privacy.NewMemoryStore(), privacy.WithClock(clk.Now))
	require.NoError(t, m.Consent.RegisterPurpose(privacy.Purpose{Name: "analytics", Version: 1}))
	orders := privacy.ExporterFunc(func(ctx context.Context, org, subject string, yield func(any) error) error {
		for i := range records {
			if out != nil && i == records/2 {
				require.Positive(t, out.n, "earlier records already written before the rest are produced")
			}
			if err := yield(map[string]any{"order": i, "subject": subject, "total": 10 + i}); err != nil {
				return err
			}
		}
		return nil
	})
	require.NoError(t, m.RegisterDomain(privacy.Domain{Name: "orders", Eraser: newTable(nil, nil), Exporter: orders}))
	require.NoError(t, m.RegisterDomain(privacy.Domain{Name: "cache", Eraser: newTable(nil, nil)}))
	_, err := m.Consent.Grant(ctx, "org1", "subject:u1", "analytics", "banner")
	require.NoError(t, err)
	_, err = m.Requests.Receive(ctx, privacy.Ref{Org: "org1", ID: "u1"}, privacy.KindAccess, true, "user:u1")
	require.NoError(t, err)
	mustDeletion(t, m.Lifecycle, "u1")
	_, err = m.Restore(ctx, privacy.Ref{Org: "org1", ID: "u1"}, "user:u1", "oops")
	require.NoError(t, err)
	return m
}

func TestExportDocument(t *testing.T) {
	t.Parallel()
	out := &countingWriter{}
	m := exportFixture(t, 10000, out)
	info, err := m.Export(context.Background(), out, privacy.Ref{Org: "org1", ID: "u1"}, "user:u1")
	require.NoError(t, err)
	require.Equal(t, privacy.ExportSchema, info.Schema)

	got, err := privacy.ReadExport(bytes.NewReader(out.buf.Bytes()))
	require.NoError(t, err)
	require.Equal(t, info.Manifest, got.Manifest)
	require.Equal(t, info.HeaderSHA256, got.HeaderSHA256)
	require.Len(t, info.Digest, 64)
	require.Equal(t, info.Digest, got.Digest)
	require.Equal(t, "org1", got.Org)
	require.True(t, info.GeneratedAt.Equal(got.GeneratedAt))
	names := map[string]int{}
	for _, e := range got.Manifest {
		names[e.Section] = e.Records
		require.Len(t, e.SHA256, 64)
	}
	require.Equal(t, map[string]int{"domain/orders": 10000, "consent": 1, "lifecycle": 2, "requests": 1}, names)
	require.Equal(t, "u1", got.SubjectID)

	var doc map[string]any
	require.NoError(t, json.Unmarshal(out.buf.Bytes(), &doc))
	require.Equal(t, privacy.ExportSchema, doc["schema"])
}

// TestExportTamperDetected flips content in a section and shows the manifest
// no longer matches.
func TestExportTamperDetected(t *testing.T) {
	t.Parallel()
	var out countingWriter
	m := exportFixture(t, 3, nil)
	_, err := m.Export(context.Background(), &out, privacy.Ref{Org: "org1", ID: "u1"}, "user:u1")
	require.NoError(t, err)
	doc := out.buf.String()
	for name, bad := range map[string]string{
		"record changed":  strings.Replace(doc, `"total":11`, `"total":99`, 1),
		"schema":          strings.Replace(doc, privacy.ExportSchema, "rampart.privacy.export/v9", 1),
		"record removed":  strings.Replace(doc, `{"order":0,"subject":"u1","total":10},`, ``, 1),
		"truncated":       doc[:len(doc)/2],
		"trailing":        doc + `{}`,
		"unknown field":   strings.Replace(doc, `"schema"`, `"extra":1,"schema"`, 1),
		"section renamed": strings.Replace(doc, `"name":"consent"`, `"name":"consent2"`, 1),
		// The header is covered too: another subject, organisation or date
		// on the same records is refused.
		"header subject":      strings.Replace(doc, `"subject_id":"u1"`, `"subject_id":"u2"`, 1),
		"header org":          strings.Replace(doc, `"org":"org1"`, `"org":"org2"`, 1),
		"header generated_at": strings.Replace(doc, `"generated_at":"2026`, `"generated_at":"2025`, 1),
		"header schema":       strings.Replace(doc, `"header":{"schema":"`+privacy.ExportSchema, `"header":{"schema":"x`, 1),
		"digest":              strings.Replace(doc, `"sha256":"`+doc[len(doc)-67:len(doc)-3], `"sha256":"`+strings.Repeat("0", 64), 1),
		"manifest count":      strings.Replace(doc, `"records":2,`, `"records":3,`, 1),
	} {
		require.NotEqual(t, doc, bad, name)
		_, err := privacy.ReadExport(strings.NewReader(bad))
		require.ErrorIs(t, err, privacy.ErrBadExport, name)
	}
}

func TestExportHandler(t *testing.T) {
	t.Parallel()
	m := exportFixture(t, 5, nil)
	h := privacy.ExportHandler(m.Lifecycle, func(r *http.Request) (privacy.Ref, bool) {
		u := r.Header.Get("X-User")
		return privacy.Ref{Org: "org1", ID: u}, u != ""
	})
	// Unauthenticated: 401 problem, nothing of the subject.
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/me/export?subject=u1", nil))
	require.Equal(t, http.StatusUnauthorized, w.Code)
	require.Equal(t, "application/problem+json", w.Header().Get("Content-Type"))
	require.NotContains(t, w.Body.String(), "order")

	r := httptest.NewRequest(http.MethodGet, "/me/export", nil)
	r.Header.Set("X-User", "u1")
	w = httptest.NewRecorder()
	h.ServeHTTP(w, r)
	require.Equal(t, http.StatusOK, w.Code)
	require.Equal(t, "no-store", w.Header().Get("Cache-Control"))
	info, err := privacy.ReadExport(w.Body)
	require.NoError(t, err)
	require.Equal(t, "u1", info.SubjectID)

	r = httptest.NewRequest(http.MethodPost, "/me/export", nil)
	r.Header.Set("X-User", "u1")
	w = httptest.NewRecorder()
	h.ServeHTTP(w, r)
	require.Equal(t, http.StatusMethodNotAllowed, w.Code)
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, fmt.Errorf("disk full") }

func TestExportWriteError(t *testing.T) {
	t.Parallel()
	m := exportFixture(t, 5000, nil)
	_, err := m.Export(context.Background(), failWriter{}, privacy.Ref{Org: "org1", ID: "u1"}, "user:u1")
	require.Error(t, err)
}

func FuzzReadExport(f *testing.F) {
	var out countingWriter
	m := newServices(f, privacy.NewMemoryStore(), privacy.WithClock(newClock().Now))
	if _, err := m.Export(context.Background(), &out, privacy.Ref{Org: "org1", ID: "u1"}, "user:u1"); err != nil {
		f.Fatal(err)
	}
	f.Add(out.buf.Bytes())
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"schema":"rampart.privacy.export/v2","header":{"schema":"rampart.privacy.export/v2","subject_id":"x"},"sections":[{"name":"a","records":[1]}],"manifest":{"header_sha256":"00","sections":[{"section":"a","records":1,"sha256":"00"}]},"sha256":"00"}`))
	f.Add([]byte(`[`))
	f.Fuzz(func(t *testing.T, b []byte) {
		info, err := privacy.ReadExport(bytes.NewReader(b))
		if err != nil {
			require.ErrorIs(t, err, privacy.ErrBadExport)
			return
		}
		// Anything accepted is a well-formed document with a consistent manifest.
		require.Equal(t, privacy.ExportSchema, info.Schema)
		require.NotEmpty(t, info.SubjectID)
		require.True(t, json.Valid(b))
	})
}

func TestExportHandlerFailsClosedBeforeFirstByte(t *testing.T) {
	t.Parallel()
	m := newServices(t, privacy.NewMemoryStore())
	require.NoError(t, m.RegisterDomain(privacy.Domain{Name: "broken", Eraser: newTable(nil, nil),
		Exporter: privacy.ExporterFunc(func(context.Context, string, string, func(any) error) error {
			return fmt.Errorf("db password=hunter2 refused")
		})}))
	h := privacy.ExportHandler(m.Lifecycle, func(*http.Request) (privacy.Ref, bool) { return privacy.Ref{Org: "org1", ID: "u1"}, true })
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/me/export", nil))
	require.Equal(t, http.StatusInternalServerError, w.Code)
	require.Equal(t, "application/problem+json", w.Header().Get("Content-Type"))
	require.Empty(t, w.Header().Get("Content-Disposition"))
	require.NotContains(t, w.Body.String(), "hunter2", "internal errors are not shown")
}

// TestExportDigestIsAudited: the manifest is a checksum anyone who edits the
// document can recompute, so what binds a document to the controller is the
// digest recorded in the audit entry of the export. A document rewritten
// with recomputed checksums reads as well formed but carries another digest.
func TestExportDigestIsAudited(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rec := &recorder{}
	m := newServices(t, privacy.NewMemoryStore(), privacy.WithClock(newClock().Now), privacy.WithRecorder(rec))
	var out bytes.Buffer
	info, err := m.Export(ctx, &out, privacy.Ref{Org: "org1", ID: "u1"}, "user:u1")
	require.NoError(t, err)
	var audited string
	for _, e := range rec.entries {
		if e.action == privacy.ActionExported {
			audited, _ = e.payload["digest"].(string)
		}
	}
	require.Equal(t, info.Digest, audited)

	// Rewrite the header for another subject and recompute every checksum.
	var doc map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(out.Bytes(), &doc))
	head := bytes.Replace(doc["header"], []byte(`"u1"`), []byte(`"u2"`), 1)
	var man map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(doc["manifest"], &man))
	hs := sha256.Sum256(head)
	man["header_sha256"], _ = json.Marshal(hex.EncodeToString(hs[:]))
	manBytes, err := json.Marshal(man)
	require.NoError(t, err)
	ds := sha256.Sum256(manBytes)
	doc["header"], doc["manifest"] = head, manBytes
	doc["sha256"], _ = json.Marshal(hex.EncodeToString(ds[:]))
	forged, err := json.Marshal(doc)
	require.NoError(t, err)
	got, err := privacy.ReadExport(bytes.NewReader(forged))
	require.NoError(t, err, "a rewrite with recomputed checksums is well formed")
	require.Equal(t, "u2", got.SubjectID)
	require.NotEqual(t, audited, got.Digest, "but its digest is not the audited one")
}
