package auditlog

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/tlog"
)

// maxExportBytes bounds what ParseExport reads.
const maxExportBytes = 1 << 30

// maxProofLen bounds a proof's hashes: 63 for an inclusion proof in a tree
// below 2^63 entries, twice that for a consistency proof.
const maxProofLen = 128

func unsupported(version string) error {
	return fmt.Errorf("%w: %w %q: this reader reads %s; export again with this version", ErrBadExport,
		ErrUnsupportedExportVersion, version, ExportFormatID)
}

// checkVersion accepts ExportFormatID and names any other version.
func checkVersion(format string) error {
	switch {
	case format == ExportFormatID:
		return nil
	case strings.HasPrefix(format, exportFormatPrefix):
		return unsupported(format)
	}
	return fmt.Errorf("%w: the header does not name %s", ErrBadExport, ExportFormatID)
}

// ParseExport parses an export in any of the three formats, detected from
// its first bytes, of at most 1 GiB (a larger one is ErrBadExport). It
// checks syntax and the format version only; VerifyExport checks the
// content.
func ParseExport(r io.Reader) (*ExportDoc, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxExportBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxExportBytes {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrBadExport, maxExportBytes)
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
	if doc.Manifest == nil {
		return nil, fmt.Errorf("%w: no manifest at the end (cut short?)", ErrBadExport)
	}
	return doc, nil
}

func parseHashes(ss []string) ([]tlog.Hash, error) {
	if len(ss) > maxProofLen {
		return nil, errors.New("proof too long")
	}
	out := make([]tlog.Hash, 0, len(ss))
	for _, s := range ss {
		h, err := tlog.ParseHash(s)
		if err != nil {
			return nil, errors.New("bad proof hash")
		}
		out = append(out, h)
	}
	return out, nil
}

// stray reports whether r has a member its type does not have, so that
// nothing an export shows a reader goes unverified.
func (r *record) stray() bool {
	c := *r
	c.Type = ""
	switch r.Type {
	case "header":
		c.Format, c.VerifierKey, c.Filter = "", "", nil
	case "checkpoint":
		c.Chain, c.Note = "", ""
	case "consistency":
		c.Chain, c.FromSize, c.TreeSize, c.Proof = "", nil, nil, nil
	case "manifest":
		c.Note = ""
	case "entry":
		c = record{Format: r.Format, VerifierKey: r.VerifierKey, Filter: r.Filter, Note: r.Note, FromSize: r.FromSize}
	}
	return !reflect.ValueOf(c).IsZero()
}

// add takes the next record of an export.
func (doc *ExportDoc) add(r *record) error {
	if r.stray() {
		return fmt.Errorf("%w: a %q record with a member of another record type", ErrBadExport, r.Type)
	}
	if doc.Manifest != nil {
		return fmt.Errorf("%w: a %q record after the manifest", ErrBadExport, r.Type)
	}
	if doc.Version == "" && r.Type != "header" {
		return fmt.Errorf("%w: missing header", ErrBadExport)
	}
	if r.Chain != "" && checkName("chain", r.Chain, maxNameLen) != nil {
		return fmt.Errorf("%w: a %q record of chain %q: not a chain name", ErrBadExport, r.Type, r.Chain)
	}
	switch r.Type {
	case "header":
		if doc.Version != "" {
			return fmt.Errorf("%w: header repeated", ErrBadExport)
		}
		if err := checkVersion(r.Format); err != nil {
			return err
		}
		if len(r.Filter) == 0 {
			return fmt.Errorf("%w: header without filter", ErrBadExport)
		}
		f, err := decodeFilter(r.Filter)
		if err != nil {
			return err
		}
		doc.Version, doc.VerifierKey, doc.Filter = r.Format, r.VerifierKey, f
		return nil
	case "checkpoint":
		if _, dup := doc.Checkpoints[r.Chain]; dup || r.Chain == "" {
			return fmt.Errorf("%w: checkpoint of chain %q repeated or unnamed", ErrBadExport, r.Chain)
		}
		doc.Checkpoints[r.Chain] = []byte(r.Note)
		return nil
	case "consistency":
		if r.FromSize == nil || r.TreeSize == nil || r.Chain == "" {
			return fmt.Errorf("%w: consistency proof without chain or sizes", ErrBadExport)
		}
		proof, err := parseHashes(r.Proof)
		if err != nil {
			return fmt.Errorf("%w: consistency proof of chain %q: %v", ErrBadExport, r.Chain, err)
		}
		doc.Consistency = append(doc.Consistency, ExportConsistency{Chain: r.Chain, From: *r.FromSize, To: *r.TreeSize, Proof: proof})
		return nil
	case "manifest":
		if r.Note == "" {
			return fmt.Errorf("%w: empty manifest", ErrBadExport)
		}
		doc.Manifest = []byte(r.Note)
		return nil
	case "entry":
	default:
		return fmt.Errorf("%w: record type %q", ErrBadExport, r.Type)
	}
	if r.Seq == nil || r.TreeSize == nil {
		return fmt.Errorf("%w: entry without seq or tree size", ErrBadExport)
	}
	t, ok := parseExportTime(r.Time)
	if !ok {
		return fmt.Errorf("%w: entry %d: time %q", ErrBadExport, *r.Seq, r.Time)
	}
	e := ExportEntry{Entry: Entry{Chain: r.Chain, Seq: *r.Seq, Time: t, Org: r.Org, Actor: r.Actor, Action: r.Action,
		SchemaVersion: r.SchemaVersion, Target: r.Target}, TreeSize: *r.TreeSize}
	if r.Request != nil {
		e.Request = *r.Request
	}
	switch string(r.Payload) {
	case "":
		return fmt.Errorf("%w: entry %d: no payload member (null when pruned)", ErrBadExport, e.Seq)
	case "null":
	default:
		e.Payload = slices.Clone(r.Payload)
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
	proof, err := parseHashes(r.Proof)
	if err != nil {
		return fmt.Errorf("%w: entry %d: %v", ErrBadExport, e.Seq, err)
	}
	e.Proof = proof
	doc.Entries = append(doc.Entries, e)
	return nil
}

// strictUnmarshal decodes one JSON value and refuses unknown members.
func strictUnmarshal(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("data after the JSON value")
	}
	return nil
}

func parseNDJSON(doc *ExportDoc, data []byte) error {
	for len(data) > 0 {
		line, rest, _ := bytes.Cut(data, []byte("\n"))
		data = rest
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		if doc.Version == "" {
			var v struct{ Format string }
			if json.Unmarshal(line, &v) == nil && v.Format != "" {
				if err := checkVersion(v.Format); err != nil {
					return err
				}
			}
		}
		var r record
		if err := strictUnmarshal(line, &r); err != nil {
			return fmt.Errorf("%w: %v", ErrBadExport, err)
		}
		if err := doc.add(&r); err != nil {
			return err
		}
	}
	return nil
}

func parseJSON(doc *ExportDoc, data []byte) error {
	var head struct{ Format string }
	if err := json.Unmarshal(data, &head); err != nil {
		return fmt.Errorf("%w: %v", ErrBadExport, err)
	}
	if err := checkVersion(head.Format); err != nil {
		return err
	}
	var v struct {
		Format      string          `json:"format"`
		VerifierKey string          `json:"verifier_key"`
		Filter      json.RawMessage `json:"filter"`
		Checkpoints []record        `json:"checkpoints"`
		Consistency []record        `json:"consistency"`
		Entries     []record        `json:"entries"`
		Manifest    string          `json:"manifest"`
	}
	if err := strictUnmarshal(data, &v); err != nil {
		return fmt.Errorf("%w: %v", ErrBadExport, err)
	}
	if err := doc.add(&record{Type: "header", Format: v.Format, VerifierKey: v.VerifierKey, Filter: v.Filter}); err != nil {
		return err
	}
	for _, sec := range []struct {
		typ  string
		recs []record
	}{{"checkpoint", v.Checkpoints}, {"consistency", v.Consistency}, {"entry", v.Entries}} {
		for i := range sec.recs {
			if sec.recs[i].Type != sec.typ {
				return fmt.Errorf("%w: a %q among the %s records", ErrBadExport, sec.recs[i].Type, sec.typ)
			}
			if err := doc.add(&sec.recs[i]); err != nil {
				return err
			}
		}
	}
	return doc.add(&record{Type: "manifest", Note: v.Manifest})
}

func parseCSV(doc *ExportDoc, data []byte) error {
	cr := csv.NewReader(bytes.NewReader(data))
	cr.FieldsPerRecord = -1
	head, err := cr.Read()
	switch {
	case err == nil && slices.Equal(head, csvHeaderV1):
		return unsupported(exportFormatPrefix + "v1")
	case err != nil || !slices.Equal(head, csvHeader):
		return fmt.Errorf("%w: not a CSV export (header row)", ErrBadExport)
	}
	for {
		row, err := cr.Read()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%w: %v", ErrBadExport, err)
		}
		if len(row) != len(csvHeader) {
			return fmt.Errorf("%w: a row of %d cells, not %d", ErrBadExport, len(row), len(csvHeader))
		}
		for i := range row {
			row[i] = csvUnescape(row[i])
			if i > colType && row[i] != "" && !csvUses(row[colType], i) {
				return fmt.Errorf("%w: a %q row with a %s cell", ErrBadExport, row[colType], csvHeader[i])
			}
		}
		r, err := csvRecord(row)
		if err != nil {
			return err
		}
		if err := doc.add(&r); err != nil {
			return err
		}
	}
}

// csvUses reports whether a row of type typ has cell col.
func csvUses(typ string, col int) bool {
	switch typ {
	case "header":
		return col == colFormat || col == colFilter || col == colNote
	case "checkpoint":
		return col == colChain || col == colNote
	case "consistency":
		return col == colChain || col == colFromSize || col == colTreeSize || col == colProof
	case "manifest":
		return col == colNote
	case "entry":
		return col >= colChain && col <= colProof
	}
	return true // an unknown type is refused by add
}

// csvRecord maps a CSV row (already unescaped) to its record.
func csvRecord(row []string) (record, error) {
	r := record{Type: row[colType], Chain: row[colChain], Note: row[colNote]}
	u := func(col int, bits int) (*uint64, error) {
		if row[col] == "" {
			return nil, nil
		}
		v, err := strconv.ParseUint(row[col], 10, bits)
		if err != nil || strconv.FormatUint(v, 10) != row[col] {
			return nil, fmt.Errorf("%w: %s %q", ErrBadExport, csvHeader[col], row[col])
		}
		return &v, nil
	}
	var errs [4]error
	switch r.Type {
	case "header":
		r.Format, r.VerifierKey, r.Filter, r.Note = row[colFormat], row[colNote], json.RawMessage(row[colFilter]), ""
	case "consistency":
		r.FromSize, errs[0] = u(colFromSize, 63)
		r.TreeSize, errs[1] = u(colTreeSize, 63)
	case "entry":
		var sv *uint64
		r.Seq, errs[0] = u(colSeq, 63)
		r.TreeSize, errs[1] = u(colTreeSize, 63)
		sv, errs[2] = u(colSchemaVersion, 32)
		if sv == nil {
			errs[3] = fmt.Errorf("%w: entry without schema version", ErrBadExport)
		} else {
			r.SchemaVersion = uint32(*sv)
		}
		r.Time, r.Org, r.Actor, r.Action, r.Target = row[colTime], row[colOrg], row[colActor], row[colAction], row[colTarget]
		r.Request = &Request{IP: row[colIP], UserAgent: row[colUserAgent], RequestID: row[colRequestID]}
		r.Payload = json.RawMessage(row[colPayload])
		r.PayloadDigest, r.PrevHash, r.Hash = row[colPayloadDigest], row[colPrevHash], row[colHash]
	}
	if r.Type == "entry" || r.Type == "consistency" {
		if row[colProof] != "" {
			r.Proof = strings.Split(row[colProof], " ")
		}
	}
	for _, err := range errs {
		if err != nil {
			return r, err
		}
	}
	return r, nil
}
