package privacy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// ExportSchema is the schema version written in every export document.
// Readers refuse documents of another version. Version 2 covers the header
// (organisation, subject, generation time) with the manifest, and the
// manifest with the document's digest; version 1 covered the sections only.
const ExportSchema = "rampart.privacy.export/v2"

// The built-in export sections; a domain's is "domain/<name>".
const (
	sectionLifecycle = "lifecycle"
	sectionRequests  = "requests"
	sectionConsent   = "consent"
)

// ManifestEntry is the manifest line of one section ("lifecycle", "requests",
// "consent" or "domain/<name>"): its record count and the SHA-256 of the exact
// bytes of its "records" array.
type ManifestEntry struct {
	Section string `json:"section"`
	Records int    `json:"records"`
	SHA256  string `json:"sha256"`
}

// ExportInfo describes a checked export document.
//
// Digest commits to the whole document: it is the SHA-256 of the manifest's
// exact bytes, and the manifest holds the SHA-256 of the header's and of every
// section's exact bytes. It is a checksum, not a signature: whoever can edit
// the document can recompute it. Export records it in the audit entry of the
// export (ActionExported, payload "digest"), so a document can be shown to be
// the one the controller issued by comparing its digest with that entry in a
// verified (and checkpoint-signed) audit chain.
type ExportInfo struct {
	Schema       string          `json:"schema"`
	Org          string          `json:"org"`
	SubjectID    string          `json:"subject_id"`
	GeneratedAt  time.Time       `json:"generated_at"`
	HeaderSHA256 string          `json:"header_sha256"`
	Manifest     []ManifestEntry `json:"manifest"`
	Digest       string          `json:"digest"`
}

// exportHeader is the document's "header" member, covered by the manifest.
type exportHeader struct {
	Schema      string    `json:"schema"`
	Org         string    `json:"org"`
	SubjectID   string    `json:"subject_id"`
	GeneratedAt time.Time `json:"generated_at"`
}

// exportManifest is the document's "manifest" member, covered by "sha256".
type exportManifest struct {
	HeaderSHA256 string          `json:"header_sha256"`
	Sections     []ManifestEntry `json:"sections"`
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// sectionWriter streams one section's records and hashes them.
type sectionWriter struct {
	mw io.Writer // writes to the output and the section's hash
	n  int
}

func (s *sectionWriter) add(rec any) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("privacy: export: encode record: %w", err)
	}
	if s.n > 0 {
		if _, err := s.mw.Write([]byte{','}); err != nil {
			return err
		}
	}
	s.n++
	_, err = s.mw.Write(b)
	return err
}

// Export writes the subject's export document to w: a header naming the
// organisation, subject and generation time; the records of every domain with
// an exporter, the consent history of "subject:<id>", the lifecycle history
// and the data subject requests; then a manifest with the SHA-256 of the
// header and of each section, and the SHA-256 of the manifest (the digest).
// Sections are streamed record by record, so a subject with a large history
// never sits in memory. The export is recorded with actor and the digest.
func (l *Lifecycle) Export(ctx context.Context, w io.Writer, subject Ref, actor string) (ExportInfo, error) {
	org, subjectID := subject.Org, subject.ID
	if err := checkIDs(org, subjectID, actor); err != nil {
		return ExportInfo{}, err
	}
	info := ExportInfo{Schema: ExportSchema, Org: org, SubjectID: subjectID, GeneratedAt: l.now().UTC()}
	bw := bufio.NewWriterSize(w, 32<<10)
	head, err := json.Marshal(exportHeader{info.Schema, org, subjectID, info.GeneratedAt})
	if err != nil {
		return info, err
	}
	info.HeaderSHA256 = sha256Hex(head)
	bw.WriteString(`{"schema":"` + ExportSchema + `","header":`)
	bw.Write(head)
	bw.WriteString(`,"sections":[`)

	section := func(name string, fill func(add func(any) error) error) error {
		if len(info.Manifest) > 0 {
			bw.WriteByte(',')
		}
		nameJSON, _ := json.Marshal(name)
		bw.WriteString(`{"name":`)
		bw.Write(nameJSON)
		bw.WriteString(`,"records":`)
		h := sha256.New()
		sw := &sectionWriter{mw: io.MultiWriter(bw, h)}
		if _, err := sw.mw.Write([]byte{'['}); err != nil {
			return err
		}
		if err := fill(sw.add); err != nil {
			return fmt.Errorf("privacy: export section %q: %w", name, err)
		}
		if _, err := sw.mw.Write([]byte{']'}); err != nil {
			return err
		}
		bw.WriteByte('}')
		info.Manifest = append(info.Manifest, ManifestEntry{Section: name, Records: sw.n, SHA256: hex.EncodeToString(h.Sum(nil))})
		return nil
	}

	for _, d := range l.domains {
		if d.Exporter == nil {
			continue
		}
		if err := section("domain/"+d.Name, func(add func(any) error) error {
			return d.Exporter.Export(ctx, org, subjectID, add)
		}); err != nil {
			return info, err
		}
	}
	cs, err := l.w.store.ConsentHistory(ctx, org, "subject:"+subjectID)
	if err := section(sectionConsent, addAll(cs, err)); err != nil {
		return info, err
	}
	evs, err := l.w.store.Events(ctx, org, subjectID)
	if err := section(sectionLifecycle, addAll(evs, err)); err != nil {
		return info, err
	}
	rs, err := l.w.store.Requests(ctx, org, subjectID)
	if err := section(sectionRequests, addAll(rs, err)); err != nil {
		return info, err
	}
	man, err := json.Marshal(exportManifest{HeaderSHA256: info.HeaderSHA256, Sections: info.Manifest})
	if err != nil {
		return info, err
	}
	info.Digest = sha256Hex(man)
	bw.WriteString(`],"manifest":`)
	bw.Write(man)
	bw.WriteString(`,"sha256":"` + info.Digest + "\"}\n")
	if err := bw.Flush(); err != nil {
		return info, fmt.Errorf("privacy: export: write: %w", err)
	}
	return info, l.w.record(ctx, org, actor, ActionExported, subjectTarget(subjectID), map[string]any{
		"sections": len(info.Manifest), "digest": info.Digest})
}

// addAll fills a section from a list read from the store (or fails with
// the error of that read).
func addAll[T any](items []T, readErr error) func(add func(any) error) error {
	return func(add func(any) error) error {
		if readErr != nil {
			return readErr
		}
		for _, it := range items {
			if err := add(it); err != nil {
				return err
			}
		}
		return nil
	}
}

// ReadExport parses and checks an export document: the schema version, the
// header against the manifest, every section against the manifest (same
// names in the same order, record counts and SHA-256), and the manifest
// against the digest. It is for a subject or an auditor checking a document
// received earlier; see ExportInfo for what the digest proves and what it
// does not. It holds the whole document in memory: check documents of a size
// you are ready to hold (http.MaxBytesReader, io.LimitReader).
func ReadExport(r io.Reader) (ExportInfo, error) {
	var doc struct {
		Schema   string          `json:"schema"`
		Header   json.RawMessage `json:"header"`
		Sections []struct {
			Name    string          `json:"name"`
			Records json.RawMessage `json:"records"`
		} `json:"sections"`
		Manifest json.RawMessage `json:"manifest"`
		SHA256   string          `json:"sha256"`
	}
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		return ExportInfo{}, fmt.Errorf("%w: %w", ErrBadExport, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return ExportInfo{}, fmt.Errorf("%w: trailing data", ErrBadExport)
	}
	if doc.Schema != ExportSchema {
		return ExportInfo{}, fmt.Errorf("%w: schema %q, want %q", ErrBadExport, doc.Schema, ExportSchema)
	}
	if doc.Manifest == nil || sha256Hex(doc.Manifest) != doc.SHA256 {
		return ExportInfo{}, fmt.Errorf("%w: the manifest does not match the document's sha256", ErrBadExport)
	}
	var man exportManifest
	if err := strictUnmarshal(doc.Manifest, &man); err != nil {
		return ExportInfo{}, fmt.Errorf("%w: manifest: %w", ErrBadExport, err)
	}
	var head exportHeader
	if doc.Header == nil || sha256Hex(doc.Header) != man.HeaderSHA256 {
		return ExportInfo{}, fmt.Errorf("%w: the header does not match the manifest", ErrBadExport)
	}
	if err := strictUnmarshal(doc.Header, &head); err != nil {
		return ExportInfo{}, fmt.Errorf("%w: header: %w", ErrBadExport, err)
	}
	if head.Schema != doc.Schema {
		return ExportInfo{}, fmt.Errorf("%w: header schema %q, document schema %q", ErrBadExport, head.Schema, doc.Schema)
	}
	if head.SubjectID == "" {
		return ExportInfo{}, fmt.Errorf("%w: no subject", ErrBadExport)
	}
	if len(doc.Sections) != len(man.Sections) {
		return ExportInfo{}, fmt.Errorf("%w: %d sections, %d manifest entries", ErrBadExport, len(doc.Sections), len(man.Sections))
	}
	seen := map[string]bool{}
	for i, s := range doc.Sections {
		me := man.Sections[i]
		if s.Name == "" || s.Name != me.Section || seen[s.Name] {
			return ExportInfo{}, fmt.Errorf("%w: section %d is %q, manifest says %q", ErrBadExport, i, s.Name, me.Section)
		}
		seen[s.Name] = true
		if sha256Hex(s.Records) != me.SHA256 {
			return ExportInfo{}, fmt.Errorf("%w: section %q: sha256 mismatch", ErrBadExport, s.Name)
		}
		var recs []json.RawMessage
		if err := json.Unmarshal(s.Records, &recs); err != nil || !bytes.HasPrefix(bytes.TrimSpace(s.Records), []byte("[")) {
			return ExportInfo{}, fmt.Errorf("%w: section %q: records is not an array", ErrBadExport, s.Name)
		}
		if len(recs) != me.Records {
			return ExportInfo{}, fmt.Errorf("%w: section %q: %d records, manifest says %d", ErrBadExport, s.Name, len(recs), me.Records)
		}
	}
	return ExportInfo{Schema: doc.Schema, Org: head.Org, SubjectID: head.SubjectID, GeneratedAt: head.GeneratedAt,
		HeaderSHA256: man.HeaderSHA256, Manifest: man.Sections, Digest: doc.SHA256}, nil
}

// strictUnmarshal decodes one JSON value into v, refusing unknown members.
func strictUnmarshal(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// Identify tells a handler which subject (organisation and ID) the
// authenticated request belongs to; ok=false or an empty ID answers 401. The
// host wires it to its authentication (authn's principal in the request
// context).
type Identify func(r *http.Request) (subject Ref, ok bool)

// ExportHandler serves the authenticated subject's own export document
// (right of access, Art. 15; portability, Art. 20) as a JSON download. The
// subject comes only from identify, never from the URL or a parameter, so one
// subject cannot ask for another's data.
func ExportHandler(l *Lifecycle, identify Identify) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			w.Header().Set("Allow", http.MethodGet)
			writeProblem(w, http.StatusMethodNotAllowed, "Method not allowed", "use GET")
			return
		}
		subject, ok := identify(r)
		if !ok || subject.ID == "" {
			writeProblem(w, http.StatusUnauthorized, "Unauthorized", "sign in to download your data")
			return
		}
		cw := &startWriter{w: w}
		_, err := l.Export(r.Context(), cw, subject, "user:"+subject.ID)
		if err != nil && !cw.started {
			writeProblem(w, http.StatusInternalServerError, "Export failed", "the export could not be produced; try again later")
		}
		// Errors after the first byte cannot change the status; the document
		// is then truncated and fails ReadExport, which is the signal.
	})
}

// startWriter sets the download headers at the first byte, so an export
// that fails before writing anything can still answer with a problem.
type startWriter struct {
	w       http.ResponseWriter
	started bool
}

func (s *startWriter) Write(p []byte) (int, error) {
	if !s.started {
		s.started = true
		h := s.w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Content-Disposition", `attachment; filename="export.json"`)
		h.Set("Cache-Control", "no-store")
	}
	return s.w.Write(p)
}

// writeProblem writes an RFC 9457 problem document that names nothing internal.
func writeProblem(w http.ResponseWriter, status int, title, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"type": "about:blank", "title": title, "status": status, "detail": detail})
}
