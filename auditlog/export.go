package auditlog

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// ExportFormatID names the export format, and its version, inside every
// export. ENCODING.md ("Export formats") defines it byte for byte.
const ExportFormatID = "rampart.auditlog.export.v2"

// exportFormatPrefix is what every version of the format ID starts with.
const exportFormatPrefix = "rampart.auditlog.export."

// Format is an export's encoding.
type Format string

// The export formats. All three carry the same records: a header (format
// version, verifier key hint, filter), one signed checkpoint per chain,
// consistency proofs from the saved checkpoints the exporter was given,
// the entries with their hashes and an inclusion proof against their
// chain's checkpoint, and a signed manifest of what the export holds, so
// that an export verifies offline and a missing, duplicated, reordered or
// added entry is reported.
const (
	FormatCSV    Format = "csv"
	FormatJSON   Format = "json"
	FormatNDJSON Format = "ndjson"
)

// Filter selects entries for an export; zero fields match everything.
type Filter struct {
	Org    string    // only this organisation's chain ("" = every chain)
	From   time.Time // entries at or after From
	To     time.Time // entries before To
	Actor  string
	Action string
	Target string
}

func (f Filter) match(e *Entry) bool {
	return (f.From.IsZero() || !e.Time.Before(f.From)) &&
		(f.To.IsZero() || e.Time.Before(f.To)) &&
		(f.Actor == "" || e.Actor == f.Actor) &&
		(f.Action == "" || e.Action == f.Action) &&
		(f.Target == "" || e.Target == f.Target) &&
		(f.Org == "" || e.Org == f.Org)
}

// isZero reports whether f matches every entry of every chain.
func (f Filter) isZero() bool {
	return f.Org == "" && f.From.IsZero() && f.To.IsZero() && f.Actor == "" && f.Action == "" && f.Target == ""
}

// filterJSON is a Filter as the export writes it: empty members omitted,
// times in RFC 3339 UTC with as many fractional digits as needed.
type filterJSON struct {
	Org    string `json:"org,omitempty"`
	From   string `json:"from,omitempty"`
	To     string `json:"to,omitempty"`
	Actor  string `json:"actor,omitempty"`
	Action string `json:"action,omitempty"`
	Target string `json:"target,omitempty"`
}

const filterTime = time.RFC3339Nano

// encodeFilter returns f's JSON form (no HTML escaping, no newline).
func encodeFilter(f Filter) ([]byte, error) {
	fj := filterJSON{Org: f.Org, Actor: f.Actor, Action: f.Action, Target: f.Target}
	for _, tf := range []struct {
		t   time.Time
		dst *string
	}{{f.From, &fj.From}, {f.To, &fj.To}} {
		if tf.t.IsZero() {
			continue
		}
		s := tf.t.UTC().Format(filterTime)
		if back, err := time.Parse(filterTime, s); err != nil || !back.Equal(tf.t) {
			return nil, fmt.Errorf("auditlog: export filter time %s cannot be written in RFC 3339", tf.t)
		}
		*tf.dst = s
	}
	return marshalNoEscape(fj)
}

func decodeFilter(b []byte) (Filter, error) {
	var fj filterJSON
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&fj); err != nil {
		return Filter{}, fmt.Errorf("%w: filter: %v", ErrBadExport, err)
	}
	if dec.More() {
		return Filter{}, fmt.Errorf("%w: filter: trailing data", ErrBadExport)
	}
	f := Filter{Org: fj.Org, Actor: fj.Actor, Action: fj.Action, Target: fj.Target}
	for _, tf := range []struct {
		s   string
		dst *time.Time
	}{{fj.From, &f.From}, {fj.To, &f.To}} {
		if tf.s == "" {
			continue
		}
		t, err := time.Parse(filterTime, tf.s)
		if err != nil {
			return Filter{}, fmt.Errorf("%w: filter time %q", ErrBadExport, tf.s)
		}
		*tf.dst = t.UTC()
	}
	return f, nil
}

// marshalNoEscape is json.Marshal without HTML escaping and without the
// encoder's trailing newline. Payloads are embedded as their canonical
// bytes: with HTML escaping on, encoding/json would rewrite &, <, >, U+2028
// and U+2029 inside them and the digest would no longer match.
func marshalNoEscape(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// ExportOptions configure Export.
type ExportOptions struct {
	Format Format
	Filter Filter
	// Signer signs the checkpoint that covers each exported chain, and the
	// export's manifest.
	Signer note.Signer
	// VerifierKey, if set, is written in the header as a hint; a verifier
	// should pin its own copy of the key.
	VerifierKey string
	// Checkpoints are checkpoints saved earlier (ReadCheckpoints). For each
	// one of an exported chain that the chain has grown past, the export
	// carries a consistency proof from its size to the export's
	// checkpoint, so that a verifier holding it can check a filtered export
	// too. Only Chain and Size are used; an unfiltered export needs none.
	Checkpoints []Checkpoint
	// Now stamps the checkpoints (default time.Now).
	Now func() time.Time
}

// ExportEntry is an entry with its inclusion proof in the tree of TreeSize
// entries that the chain's checkpoint in the export signs.
type ExportEntry struct {
	Entry
	TreeSize uint64
	Proof    tlog.RecordProof
}

// ExportConsistency proves that chain's tree of From entries (a checkpoint
// saved earlier) is a prefix of its tree of To entries (the export's
// checkpoint).
type ExportConsistency struct {
	Chain    string
	From, To uint64
	Proof    tlog.TreeProof
}

// ExportDoc is a parsed export.
type ExportDoc struct {
	// Version is the format ID of the header (ExportFormatID).
	Version     string
	VerifierKey string
	// Filter is the filter the header says the export applied.
	Filter Filter
	// Checkpoints are the signed notes, by chain.
	Checkpoints map[string][]byte
	Consistency []ExportConsistency
	Entries     []ExportEntry
	// Manifest is the signed note that ends the export (ENCODING.md,
	// "Export formats", defines its text).
	Manifest []byte
}

// Export writes the entries of store matching opts.Filter to w, streaming,
// with a freshly signed checkpoint per chain, an inclusion proof per entry
// and a signed manifest of what it wrote. It returns how many entries were
// written.
func Export(ctx context.Context, store Store, w io.Writer, opts ExportOptions) (int, error) {
	if opts.Signer == nil {
		return 0, errors.New("auditlog: export needs a checkpoint signer")
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	filter, err := encodeFilter(opts.Filter)
	if err != nil {
		return 0, err
	}
	var chains []string
	if opts.Filter.Org != "" {
		chains = []string{ChainFor(opts.Filter.Org)}
	} else if chains, err = store.Chains(ctx); err != nil {
		return 0, err
	}
	cps := make([]Checkpoint, 0, len(chains))
	notes := make([][]byte, 0, len(chains))
	for _, c := range chains {
		cp, err := CurrentCheckpoint(ctx, store, c, now())
		if err != nil {
			return 0, err
		}
		msg, err := signCheckpoint(opts.Signer, cp)
		if err != nil {
			return 0, err
		}
		cps, notes = append(cps, cp), append(notes, msg)
	}
	ew, err := newExportWriter(w, opts.Format)
	if err != nil {
		return 0, err
	}
	if err := ew.header(opts.VerifierKey, filter); err != nil {
		return 0, err
	}
	ew.section("checkpoints")
	for i, cp := range cps {
		if err := ew.record(record{Type: "checkpoint", Chain: cp.Chain, Note: string(notes[i])}); err != nil {
			return 0, err
		}
	}
	ew.section("consistency")
	for _, cp := range cps {
		sizes := map[uint64]bool{}
		for _, saved := range opts.Checkpoints {
			if saved.Chain == cp.Chain && saved.Size > 0 && saved.Size < cp.Size {
				sizes[saved.Size] = true
			}
		}
		keys := make([]uint64, 0, len(sizes))
		for s := range sizes {
			keys = append(keys, s)
		}
		slices.Sort(keys)
		for _, from := range keys {
			proof, err := ProveConsistency(ctx, store, cp.Chain, from, cp.Size)
			if err != nil {
				return 0, fmt.Errorf("auditlog: consistency proof of chain %q from %d: %w", cp.Chain, from, err)
			}
			if err := ew.record(consistencyRecord(&ExportConsistency{Chain: cp.Chain, From: from, To: cp.Size, Proof: proof})); err != nil {
				return 0, err
			}
		}
	}
	ew.section("entries")
	man := exportManifest{Filter: opts.Filter}
	n := 0
	for _, cp := range cps {
		mc := manifestChain{Chain: cp.Chain, Size: cp.Size, Root: cp.Root}
		reader := storeReader(ctx, store, cp.Chain)
		err := store.Scan(ctx, cp.Chain, 0, func(e *Entry) error {
			if e.Seq >= cp.Size {
				return errStop
			}
			if !opts.Filter.match(e) {
				return nil
			}
			proof, err := tlog.ProveRecord(int64(cp.Size), int64(e.Seq), reader)
			if err != nil {
				return fmt.Errorf("auditlog: proof of entry %d: %w", e.Seq, err)
			}
			if err := mc.add(e.Seq); err != nil {
				return err
			}
			n++
			return ew.record(entryRecord(&ExportEntry{Entry: *e, TreeSize: cp.Size, Proof: proof}))
		})
		if err != nil && !errors.Is(err, errStop) {
			return n, err
		}
		man.Chains = append(man.Chains, mc)
	}
	text, err := man.Text()
	if err != nil {
		return n, err
	}
	msg, err := note.Sign(&note.Note{Text: text}, opts.Signer)
	if err != nil {
		return n, fmt.Errorf("auditlog: sign export manifest: %w", err)
	}
	if err := ew.manifest(msg); err != nil {
		return n, err
	}
	return n, ew.close()
}

// Export writes this log's entries; see the package-level Export. It needs
// the signer given to WithCheckpoints.
func (l *Log) Export(ctx context.Context, w io.Writer, format Format, f Filter) (int, error) {
	return Export(ctx, l.store, w, ExportOptions{Format: format, Filter: f, Signer: l.signer, Now: l.now})
}

// record is the JSON form of every line of an NDJSON export and of every
// item of a JSON export's arrays.
type record struct {
	Type          string          `json:"type"`
	Format        string          `json:"format,omitempty"`
	VerifierKey   string          `json:"verifier_key,omitempty"`
	Filter        json.RawMessage `json:"filter,omitempty"`
	Chain         string          `json:"chain,omitempty"`
	Note          string          `json:"note,omitempty"`
	Seq           *uint64         `json:"seq,omitempty"`
	Time          string          `json:"time,omitempty"`
	Org           string          `json:"org,omitempty"`
	Actor         string          `json:"actor,omitempty"`
	Action        string          `json:"action,omitempty"`
	SchemaVersion uint32          `json:"schema_version,omitempty"`
	Target        string          `json:"target,omitempty"`
	Request       *Request        `json:"request,omitempty"`
	Payload       json.RawMessage `json:"payload,omitempty"`
	PayloadDigest string          `json:"payload_digest,omitempty"`
	PrevHash      string          `json:"prev_hash,omitempty"`
	Hash          string          `json:"hash,omitempty"`
	FromSize      *uint64         `json:"from_size,omitempty"`
	TreeSize      *uint64         `json:"tree_size,omitempty"`
	Proof         []string        `json:"proof,omitempty"`
}

const exportTime = "2006-01-02T15:04:05.000000Z"

// formatExportTime writes t (whole microseconds) as the export does:
// exportTime in UTC. An entry's time is within 0000-9999 (Append refuses
// others), so the year always has exactly four digits.
func formatExportTime(t time.Time) string { return t.UTC().Format(exportTime) }

// parseExportTime reads what formatExportTime writes, and nothing else: the
// round trip refuses another spelling of the same instant.
func parseExportTime(s string) (time.Time, bool) {
	t, err := time.Parse(exportTime, s)
	return t, err == nil && formatExportTime(t) == s
}

func hashStrings(hs []tlog.Hash) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = h.String()
	}
	return out
}

func entryRecord(e *ExportEntry) record {
	seq, size := e.Seq, e.TreeSize
	r := record{Type: "entry", Chain: e.Chain, Seq: &seq, Time: formatExportTime(e.Time), Org: e.Org,
		Actor: e.Actor, Action: e.Action, SchemaVersion: e.SchemaVersion, Target: e.Target, Request: &e.Request,
		PayloadDigest: e.PayloadDigest.String(), PrevHash: e.PrevHash.String(), Hash: e.Hash.String(), TreeSize: &size,
		Proof: hashStrings(e.Proof)}
	if e.Payload != nil {
		r.Payload = e.Payload
	} else {
		r.Payload = json.RawMessage("null")
	}
	return r
}

func consistencyRecord(c *ExportConsistency) record {
	from, to := c.From, c.To
	return record{Type: "consistency", Chain: c.Chain, FromSize: &from, TreeSize: &to, Proof: hashStrings(c.Proof)}
}

// csvHeader is the column row of a CSV export.
var csvHeader = []string{"type", "chain", "seq", "time", "org", "actor", "action", "schema_version", "target",
	"ip", "user_agent", "request_id", "payload", "payload_digest", "prev_hash", "hash", "tree_size", "proof", "note",
	"format", "filter", "from_size"}

// csvHeaderV1 is the column row of version 1, recognised to name it.
var csvHeaderV1 = csvHeader[:19]

const (
	colType = iota
	colChain
	colSeq
	colTime
	colOrg
	colActor
	colAction
	colSchemaVersion
	colTarget
	colIP
	colUserAgent
	colRequestID
	colPayload
	colPayloadDigest
	colPrevHash
	colHash
	colTreeSize
	colProof
	colNote
	colFormat
	colFilter
	colFromSize
)

// csvEscape neutralises a cell that a spreadsheet would take for a formula
// (OWASP "CSV Injection", ASVS 1.2.10): a cell starting with =, +, -, @,
// tab, carriage return, line feed, NUL or a single quote is written with
// one more single quote in front. csvUnescape removes exactly that quote,
// so every cell round-trips.
func csvEscape(s string) string {
	if s != "" && strings.IndexByte("=+-@\t\r\n\x00'", s[0]) >= 0 {
		return "'" + s
	}
	return s
}

func csvUnescape(s string) string { return strings.TrimPrefix(s, "'") }

func csvRow(r record) []string {
	row := make([]string, len(csvHeader))
	u := func(p *uint64) string {
		if p == nil {
			return ""
		}
		return strconv.FormatUint(*p, 10)
	}
	row[colType], row[colChain], row[colNote], row[colFormat] = r.Type, r.Chain, r.Note, r.Format
	row[colFilter] = string(r.Filter)
	row[colSeq], row[colTreeSize], row[colFromSize] = u(r.Seq), u(r.TreeSize), u(r.FromSize)
	row[colProof] = strings.Join(r.Proof, " ")
	if r.Type == "header" {
		row[colNote] = r.VerifierKey
	}
	if r.Type == "entry" {
		row[colTime], row[colOrg], row[colActor], row[colAction], row[colTarget] = r.Time, r.Org, r.Actor, r.Action, r.Target
		row[colSchemaVersion] = strconv.FormatUint(uint64(r.SchemaVersion), 10)
		row[colIP], row[colUserAgent], row[colRequestID] = r.Request.IP, r.Request.UserAgent, r.Request.RequestID
		row[colPayload] = string(r.Payload)
		row[colPayloadDigest], row[colPrevHash], row[colHash] = r.PayloadDigest, r.PrevHash, r.Hash
	}
	for i := range row {
		row[i] = csvEscape(row[i])
	}
	return row
}

type exportWriter struct {
	format Format
	bw     *bufio.Writer
	cw     *csv.Writer
	n      int // items written in the current JSON array
}

func newExportWriter(w io.Writer, f Format) (*exportWriter, error) {
	ew := &exportWriter{format: f, bw: bufio.NewWriterSize(w, 64<<10)}
	switch f {
	case FormatCSV:
		ew.cw = csv.NewWriter(ew.bw)
		return ew, ew.cw.Write(csvHeader)
	case FormatJSON, FormatNDJSON:
		return ew, nil
	}
	return nil, fmt.Errorf("auditlog: unknown export format %q (csv, json or ndjson)", f)
}

func (ew *exportWriter) header(vkey string, filter []byte) error {
	r := record{Type: "header", Format: ExportFormatID, VerifierKey: vkey, Filter: filter}
	if ew.format != FormatJSON {
		return ew.record(r)
	}
	// {"format":...,"verifier_key":...,"filter":{...}  — the arrays follow.
	h, err := marshalNoEscape(struct {
		Format      string          `json:"format"`
		VerifierKey string          `json:"verifier_key"`
		Filter      json.RawMessage `json:"filter"`
	}{ExportFormatID, vkey, filter})
	if err != nil {
		return err
	}
	_, err = ew.bw.Write(h[:len(h)-1])
	return err
}

// section opens the next array of a JSON export; other formats have none.
func (ew *exportWriter) section(name string) {
	if ew.format != FormatJSON {
		return
	}
	if name != "checkpoints" {
		ew.bw.WriteString("]")
	}
	ew.bw.WriteString(`,"` + name + `":[`)
	ew.n = 0
}

func (ew *exportWriter) record(r record) error {
	if ew.format == FormatCSV {
		return ew.cw.Write(csvRow(r))
	}
	b, err := marshalNoEscape(r)
	if err != nil {
		return err
	}
	if ew.format == FormatJSON && ew.n > 0 {
		ew.bw.WriteByte(',')
	}
	ew.n++
	ew.bw.Write(b)
	if ew.format == FormatNDJSON {
		return ew.bw.WriteByte('\n')
	}
	return nil
}

func (ew *exportWriter) manifest(msg []byte) error {
	if ew.format != FormatJSON {
		return ew.record(record{Type: "manifest", Note: string(msg)})
	}
	b, err := marshalNoEscape(string(msg))
	if err != nil {
		return err
	}
	ew.bw.WriteString(`],"manifest":`)
	ew.bw.Write(b)
	_, err = ew.bw.WriteString("}\n")
	return err
}

func (ew *exportWriter) close() error {
	if ew.format == FormatCSV {
		ew.cw.Flush()
		if err := ew.cw.Error(); err != nil {
			return err
		}
	}
	return ew.bw.Flush()
}
