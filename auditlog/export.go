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
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// ExportFormatID names the export format inside every export.
const ExportFormatID = "rampart.auditlog.export.v1"

// Format is an export's encoding.
type Format string

// The export formats. All three carry the same records: a header, one signed
// checkpoint per chain, then entries with their hashes and an inclusion
// proof against that checkpoint, so that an export verifies offline.
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

// ExportOptions configure Export.
type ExportOptions struct {
	Format Format
	Filter Filter
	// Signer signs the checkpoint that covers each exported chain.
	Signer note.Signer
	// VerifierKey, if set, is written in the header as a hint; a verifier
	// should pin its own copy of the key.
	VerifierKey string
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

// ExportDoc is a parsed export.
type ExportDoc struct {
	VerifierKey string
	// Checkpoints are the signed notes, by chain.
	Checkpoints map[string][]byte
	Entries     []ExportEntry
}

// Export writes the entries of store matching opts.Filter to w, streaming,
// with a freshly signed checkpoint per chain and an inclusion proof per
// entry. It returns how many entries were written.
func Export(ctx context.Context, store Store, w io.Writer, opts ExportOptions) (int, error) {
	if opts.Signer == nil {
		return 0, errors.New("auditlog: export needs a checkpoint signer")
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	var chains []string
	if opts.Filter.Org != "" {
		chains = []string{ChainFor(opts.Filter.Org)}
	} else {
		var err error
		if chains, err = store.Chains(ctx); err != nil {
			return 0, err
		}
	}
	cps := make([]Checkpoint, 0, len(chains))
	notes := make([][]byte, 0, len(chains))
	for _, c := range chains {
		cp, err := CurrentCheckpoint(ctx, store, c, now())
		if err != nil {
			return 0, err
		}
		msg, err := SignCheckpoint(opts.Signer, cp)
		if err != nil {
			return 0, err
		}
		cps, notes = append(cps, cp), append(notes, msg)
	}
	ew, err := newExportWriter(w, opts.Format)
	if err != nil {
		return 0, err
	}
	if err := ew.header(opts.VerifierKey); err != nil {
		return 0, err
	}
	for i, cp := range cps {
		if err := ew.checkpoint(cp.Chain, notes[i]); err != nil {
			return 0, err
		}
	}
	n := 0
	for _, cp := range cps {
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
			n++
			return ew.entry(&ExportEntry{Entry: *e, TreeSize: cp.Size, Proof: proof})
		})
		if err != nil && !errors.Is(err, errStop) {
			return n, err
		}
	}
	return n, ew.close()
}

// Export writes this log's entries; see the package-level Export. It needs
// the signer given to WithCheckpoints.
func (l *Log) Export(ctx context.Context, w io.Writer, format Format, f Filter) (int, error) {
	return Export(ctx, l.store, w, ExportOptions{Format: format, Filter: f, Signer: l.signer, Now: l.now})
}

// record is the JSON form of every line of an NDJSON export.
type record struct {
	Type          string          `json:"type"`
	Format        string          `json:"format,omitempty"`
	VerifierKey   string          `json:"verifier_key,omitempty"`
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
	TreeSize      *uint64         `json:"tree_size,omitempty"`
	Proof         []string        `json:"proof,omitempty"`
}

const exportTime = "2006-01-02T15:04:05.000000Z"

func entryRecord(e *ExportEntry) record {
	seq, size := e.Seq, e.TreeSize
	r := record{Type: "entry", Chain: e.Chain, Seq: &seq, Time: e.Time.UTC().Format(exportTime), Org: e.Org,
		Actor: e.Actor, Action: e.Action, SchemaVersion: e.SchemaVersion, Target: e.Target, Request: &e.Request,
		PayloadDigest: e.PayloadDigest.String(), PrevHash: e.PrevHash.String(), Hash: e.Hash.String(), TreeSize: &size,
		Proof: make([]string, len(e.Proof))}
	if e.Payload != nil {
		r.Payload = e.Payload
	} else {
		r.Payload = json.RawMessage("null")
	}
	for i, h := range e.Proof {
		r.Proof[i] = h.String()
	}
	return r
}

var csvHeader = []string{"type", "chain", "seq", "time", "org", "actor", "action", "schema_version", "target",
	"ip", "user_agent", "request_id", "payload", "payload_digest", "prev_hash", "hash", "tree_size", "proof", "note"}

type exportWriter struct {
	format Format
	bw     *bufio.Writer
	cw     *csv.Writer
	n      int // records written in the current JSON array
	inArr  bool
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

func (ew *exportWriter) line(r record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	ew.bw.Write(b)
	return ew.bw.WriteByte('\n')
}

func (ew *exportWriter) header(vkey string) error {
	switch ew.format {
	case FormatCSV:
		return ew.cw.Write([]string{"header", ExportFormatID, "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", vkey})
	case FormatNDJSON:
		return ew.line(record{Type: "header", Format: ExportFormatID, VerifierKey: vkey})
	}
	h, _ := json.Marshal(map[string]string{"format": ExportFormatID, "verifier_key": vkey})
	ew.bw.Write(h[:len(h)-1])
	_, err := ew.bw.WriteString(`,"checkpoints":[`)
	ew.inArr = true
	return err
}

func (ew *exportWriter) checkpoint(chain string, msg []byte) error {
	switch ew.format {
	case FormatCSV:
		return ew.cw.Write([]string{"checkpoint", chain, "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", string(msg)})
	case FormatNDJSON:
		return ew.line(record{Type: "checkpoint", Chain: chain, Note: string(msg)})
	}
	return ew.arrayItem(record{Type: "checkpoint", Chain: chain, Note: string(msg)})
}

func (ew *exportWriter) arrayItem(r record) error {
	if ew.n > 0 {
		ew.bw.WriteByte(',')
	}
	ew.n++
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = ew.bw.Write(b)
	return err
}

func (ew *exportWriter) entry(e *ExportEntry) error {
	switch ew.format {
	case FormatCSV:
		proof := make([]string, len(e.Proof))
		for i, h := range e.Proof {
			proof[i] = h.String()
		}
		payload := "null"
		if e.Payload != nil {
			payload = string(e.Payload)
		}
		return ew.cw.Write([]string{"entry", e.Chain, strconv.FormatUint(e.Seq, 10), e.Time.UTC().Format(exportTime), e.Org,
			e.Actor, e.Action, strconv.FormatUint(uint64(e.SchemaVersion), 10), e.Target, e.Request.IP, e.Request.UserAgent,
			e.Request.RequestID, payload, e.PayloadDigest.String(), e.PrevHash.String(), e.Hash.String(),
			strconv.FormatUint(e.TreeSize, 10), strings.Join(proof, " "), ""})
	case FormatNDJSON:
		return ew.line(entryRecord(e))
	}
	if ew.inArr {
		ew.bw.WriteString(`],"entries":[`)
		ew.inArr, ew.n = false, 0
	}
	return ew.arrayItem(entryRecord(e))
}

func (ew *exportWriter) close() error {
	switch ew.format {
	case FormatCSV:
		ew.cw.Flush()
		if err := ew.cw.Error(); err != nil {
			return err
		}
	case FormatJSON:
		if ew.inArr {
			ew.bw.WriteString(`],"entries":[`)
		}
		ew.bw.WriteString("]}\n")
	}
	return ew.bw.Flush()
}

// ErrBadExport reports an export that does not parse.
var ErrBadExport = errors.New("auditlog: bad export")

// MaxExportBytes bounds what ParseExport reads.
const MaxExportBytes = 1 << 30

// ParseExport parses an export in any of the three formats, detected from
// its first bytes. It checks syntax only; VerifyExport checks the content.
func ParseExport(r io.Reader) (*ExportDoc, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxExportBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxExportBytes {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrBadExport, MaxExportBytes)
	}
	doc := &ExportDoc{Checkpoints: map[string][]byte{}}
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	switch {
	case bytes.HasPrefix(trimmed, []byte(`{"type"`)):
		err = parseNDJSON(doc, trimmed)
	case bytes.HasPrefix(trimmed, []byte("{")):
		err = parseJSON(doc, trimmed)
	default:
		err = parseCSV(doc, data)
	}
	if err != nil {
		return nil, err
	}
	return doc, nil
}

func (doc *ExportDoc) add(r *record, first bool) error {
	switch r.Type {
	case "header":
		if !first || r.Format != ExportFormatID {
			return fmt.Errorf("%w: header must come first and name %s", ErrBadExport, ExportFormatID)
		}
		doc.VerifierKey = r.VerifierKey
		return nil
	case "checkpoint":
		if _, dup := doc.Checkpoints[r.Chain]; dup || r.Chain == "" {
			return fmt.Errorf("%w: checkpoint of chain %q repeated or unnamed", ErrBadExport, r.Chain)
		}
		doc.Checkpoints[r.Chain] = []byte(r.Note)
		return nil
	case "entry":
	default:
		return fmt.Errorf("%w: record type %q", ErrBadExport, r.Type)
	}
	if first {
		return fmt.Errorf("%w: missing header", ErrBadExport)
	}
	if r.Seq == nil || r.TreeSize == nil {
		return fmt.Errorf("%w: entry without seq or tree size", ErrBadExport)
	}
	t, err := time.Parse(exportTime, r.Time)
	if err != nil {
		return fmt.Errorf("%w: entry time %q", ErrBadExport, r.Time)
	}
	e := ExportEntry{Entry: Entry{Chain: r.Chain, Seq: *r.Seq, Time: t, Org: r.Org, Actor: r.Actor, Action: r.Action,
		SchemaVersion: r.SchemaVersion, Target: r.Target}, TreeSize: *r.TreeSize}
	if r.Request != nil {
		e.Request = *r.Request
	}
	if len(r.Payload) > 0 && string(r.Payload) != "null" {
		e.Payload = append([]byte(nil), r.Payload...)
	}
	for _, pair := range []struct {
		s   string
		dst *tlog.Hash
	}{{r.PayloadDigest, &e.PayloadDigest}, {r.PrevHash, &e.PrevHash}, {r.Hash, &e.Hash}} {
		h, err := tlog.ParseHash(pair.s)
		if err != nil {
			return fmt.Errorf("%w: entry %d: bad hash", ErrBadExport, e.Seq)
		}
		*pair.dst = h
	}
	if len(r.Proof) > 64 {
		return fmt.Errorf("%w: entry %d: proof too long", ErrBadExport, e.Seq)
	}
	for _, s := range r.Proof {
		h, err := tlog.ParseHash(s)
		if err != nil {
			return fmt.Errorf("%w: entry %d: bad proof hash", ErrBadExport, e.Seq)
		}
		e.Proof = append(e.Proof, h)
	}
	doc.Entries = append(doc.Entries, e)
	return nil
}

func parseNDJSON(doc *ExportDoc, data []byte) error {
	first := true
	for len(data) > 0 {
		line, rest, _ := bytes.Cut(data, []byte("\n"))
		data = rest
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var r record
		if err := json.Unmarshal(line, &r); err != nil {
			return fmt.Errorf("%w: %v", ErrBadExport, err)
		}
		if err := doc.add(&r, first); err != nil {
			return err
		}
		first = false
	}
	if first {
		return fmt.Errorf("%w: empty", ErrBadExport)
	}
	return nil
}

func parseJSON(doc *ExportDoc, data []byte) error {
	var v struct {
		Format      string   `json:"format"`
		VerifierKey string   `json:"verifier_key"`
		Checkpoints []record `json:"checkpoints"`
		Entries     []record `json:"entries"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		return fmt.Errorf("%w: %v", ErrBadExport, err)
	}
	if err := doc.add(&record{Type: "header", Format: v.Format, VerifierKey: v.VerifierKey}, true); err != nil {
		return err
	}
	for i := range v.Checkpoints {
		if v.Checkpoints[i].Type != "checkpoint" {
			return fmt.Errorf("%w: checkpoints holds a %q", ErrBadExport, v.Checkpoints[i].Type)
		}
		if err := doc.add(&v.Checkpoints[i], false); err != nil {
			return err
		}
	}
	for i := range v.Entries {
		if v.Entries[i].Type != "entry" {
			return fmt.Errorf("%w: entries holds a %q", ErrBadExport, v.Entries[i].Type)
		}
		if err := doc.add(&v.Entries[i], false); err != nil {
			return err
		}
	}
	return nil
}

func parseCSV(doc *ExportDoc, data []byte) error {
	cr := csv.NewReader(bytes.NewReader(data))
	cr.FieldsPerRecord = len(csvHeader)
	head, err := cr.Read()
	if err != nil || strings.Join(head, ",") != strings.Join(csvHeader, ",") {
		return fmt.Errorf("%w: not a CSV export (header row)", ErrBadExport)
	}
	first := true
	for {
		row, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("%w: %v", ErrBadExport, err)
		}
		r := record{Type: row[0], Chain: row[1], Note: row[18]}
		switch r.Type {
		case "header":
			r.Format, r.VerifierKey = row[1], row[18]
		case "entry":
			seq, err1 := strconv.ParseUint(row[2], 10, 63)
			sv, err2 := strconv.ParseUint(row[7], 10, 32)
			size, err3 := strconv.ParseUint(row[16], 10, 63)
			if err := errors.Join(err1, err2, err3); err != nil {
				return fmt.Errorf("%w: entry numbers: %v", ErrBadExport, err)
			}
			r.Seq, r.TreeSize, r.SchemaVersion = &seq, &size, uint32(sv)
			r.Time, r.Org, r.Actor, r.Action, r.Target = row[3], row[4], row[5], row[6], row[8]
			r.Request = &Request{IP: row[9], UserAgent: row[10], RequestID: row[11]}
			r.Payload = json.RawMessage(row[12])
			r.PayloadDigest, r.PrevHash, r.Hash = row[13], row[14], row[15]
			if row[17] != "" {
				r.Proof = strings.Split(row[17], " ")
			}
		}
		if err := doc.add(&r, first); err != nil {
			return err
		}
		first = false
	}
	if first {
		return fmt.Errorf("%w: empty", ErrBadExport)
	}
	return nil
}

// ExportReport summarises a verified export.
type ExportReport struct {
	Entries     int                   `json:"entries"`
	Checkpoints map[string]Checkpoint `json:"checkpoints"`
}

// VerifyExport checks an export offline: every checkpoint's signature
// against verifiers, and for every entry its payload digest (unless
// pruned), its hash, its link to an adjacent exported entry, and its
// inclusion proof in its chain's signed checkpoint. The first failure is a
// *VerifyError; a bad signature is ErrBadCheckpoint.
func VerifyExport(doc *ExportDoc, verifiers note.Verifiers) (ExportReport, error) {
	rep := ExportReport{Checkpoints: map[string]Checkpoint{}}
	for chain, msg := range doc.Checkpoints {
		cp, err := OpenCheckpoint(msg, verifiers)
		if err != nil {
			return rep, fmt.Errorf("chain %q: %w", chain, err)
		}
		if cp.Chain != chain {
			return rep, fmt.Errorf("%w: checkpoint for %q filed under %q", ErrBadCheckpoint, cp.Chain, chain)
		}
		rep.Checkpoints[chain] = cp
	}
	last := map[string]*Entry{}
	for i := range doc.Entries {
		x := &doc.Entries[i]
		e := &x.Entry
		fail := func(r Reason, format string, a ...any) error {
			return &VerifyError{Chain: e.Chain, Seq: e.Seq, Reason: r, Detail: fmt.Sprintf(format, a...)}
		}
		cp, ok := rep.Checkpoints[e.Chain]
		if !ok {
			return rep, fail(ReasonCheckpointMismatch, "no checkpoint of the chain in the export")
		}
		if x.TreeSize != cp.Size || e.Seq >= cp.Size {
			return rep, fail(ReasonCheckpointMismatch, "proof is for size %d, the checkpoint has %d", x.TreeSize, cp.Size)
		}
		if e.Payload != nil && PayloadDigest(e.Payload) != e.PayloadDigest {
			return rep, fail(ReasonPayloadMismatch, "payload does not hash to the committed digest")
		}
		if EntryHash(e) != e.Hash {
			return rep, fail(ReasonHashMismatch, "hash is not the hash of the entry")
		}
		if prev := last[e.Chain]; prev != nil && prev.Seq+1 == e.Seq && prev.Hash != e.PrevHash {
			return rep, fail(ReasonBrokenLink, "previous hash is not the hash of entry %d", prev.Seq)
		}
		if e.Seq == 0 && e.PrevHash != (tlog.Hash{}) {
			return rep, fail(ReasonBrokenLink, "the first entry must have a zero previous hash")
		}
		if err := tlog.CheckRecord(x.Proof, int64(cp.Size), cp.Root, int64(e.Seq), tlog.RecordHash(e.Hash[:])); err != nil {
			return rep, fail(ReasonTreeMismatch, "inclusion proof does not lead to the signed root")
		}
		last[e.Chain] = e
		rep.Entries++
	}
	return rep, nil
}
