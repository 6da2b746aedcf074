package auditlog

import (
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/tlog"
)

// exportManifest is what an export commits to, signed with the checkpoint
// key and written as its last record: the filter it applied and, per
// chain, the checkpoint it ends at and exactly which entries it holds. An
// entry removed, repeated, moved or added after signing, or an export cut
// short, no longer matches it.
//
// Its text (the signed note's text) is, line by line:
//
//	rampart.auditlog.export.v2
//	filter <the filter as in the header, compact JSON>
//	chain <chain> <size> <root, base64> <count> <seq ranges>
//
// with one chain line per exported chain, in export order. Seq ranges list
// the exported sequence numbers in ascending order as comma-separated
// "a-b" (a < b) or "a" items, maximal (no two items touch), or "-" when
// the chain has no exported entry.
type exportManifest struct {
	Filter Filter
	Chains []manifestChain
}

// manifestChain is one chain's line of an exportManifest.
type manifestChain struct {
	Chain string
	// Size and Root are those of the chain's checkpoint in the export.
	Size uint64
	Root tlog.Hash
	// Count is how many entries the export holds; Seqs which ones.
	Count uint64
	Seqs  []seqRange
}

// seqRange is the inclusive range First..Last of sequence numbers.
type seqRange struct{ First, Last uint64 }

// add appends seq, which must be above every seq added before.
func (m *manifestChain) add(seq uint64) error {
	if n := len(m.Seqs); n > 0 {
		last := &m.Seqs[n-1]
		switch {
		case seq <= last.Last:
			return fmt.Errorf("auditlog: chain %q: entry %d after %d", m.Chain, seq, last.Last)
		case seq == last.Last+1:
			last.Last = seq
			m.Count++
			return nil
		}
	}
	m.Seqs = append(m.Seqs, seqRange{seq, seq})
	m.Count++
	return nil
}

// Text is the signed text of the manifest. It fails only for a filter
// time that RFC 3339 cannot write (a year outside 0000-9999).
func (m exportManifest) Text() (string, error) {
	filter, err := encodeFilter(m.Filter)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString(ExportFormatID + "\nfilter ")
	b.Write(filter)
	b.WriteByte('\n')
	for _, c := range m.Chains {
		fmt.Fprintf(&b, "chain %s %d %s %d ", c.Chain, c.Size, c.Root, c.Count)
		if len(c.Seqs) == 0 {
			b.WriteByte('-')
		}
		for i, r := range c.Seqs {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.FormatUint(r.First, 10))
			if r.Last != r.First {
				b.WriteByte('-')
				b.WriteString(strconv.FormatUint(r.Last, 10))
			}
		}
		b.WriteByte('\n')
	}
	return b.String(), nil
}

func parseUint(s string) (uint64, bool) {
	v, err := strconv.ParseUint(s, 10, 63)
	return v, err == nil && strconv.FormatUint(v, 10) == s
}

// parseExportManifest parses a manifest's text (without signatures); it
// accepts only the exact form Text writes.
func parseExportManifest(text string) (exportManifest, error) {
	bad := func(format string, a ...any) (exportManifest, error) {
		return exportManifest{}, fmt.Errorf("%w: manifest: %s", ErrBadExport, fmt.Sprintf(format, a...))
	}
	lines := strings.Split(text, "\n")
	if len(lines) < 3 || lines[len(lines)-1] != "" {
		return bad("want a format line, a filter line and a final newline")
	}
	lines = lines[:len(lines)-1]
	if lines[0] != ExportFormatID {
		return bad("first line is not %s", ExportFormatID)
	}
	fs, ok := strings.CutPrefix(lines[1], "filter ")
	if !ok {
		return bad("second line is not the filter")
	}
	f, err := decodeFilter([]byte(fs))
	if err != nil {
		return exportManifest{}, err
	}
	m := exportManifest{Filter: f}
	seen := map[string]bool{}
	for _, line := range lines[2:] {
		p := strings.Split(line, " ")
		if len(p) != 6 || p[0] != "chain" || checkName("chain", p[1], maxNameLen) != nil || seen[p[1]] {
			return bad("bad or repeated chain line")
		}
		seen[p[1]] = true
		c := manifestChain{Chain: p[1]}
		var ok1, ok2 bool
		c.Size, ok1 = parseUint(p[2])
		c.Count, ok2 = parseUint(p[4])
		if c.Root, err = tlog.ParseHash(p[3]); err != nil || !ok1 || !ok2 {
			return bad("chain %q: bad size, root or count", c.Chain)
		}
		var total uint64
		if p[5] != "-" {
			for _, item := range strings.Split(p[5], ",") {
				a, b, isRange := strings.Cut(item, "-")
				first, ok1 := parseUint(a)
				last, ok2 := first, true
				if isRange {
					last, ok2 = parseUint(b)
				}
				if !ok1 || !ok2 || (isRange && last <= first) || last >= c.Size {
					return bad("chain %q: bad seq range %q", c.Chain, item)
				}
				if n := len(c.Seqs); n > 0 && first <= c.Seqs[n-1].Last+1 {
					return bad("chain %q: seq ranges out of order or touching", c.Chain)
				}
				c.Seqs = append(c.Seqs, seqRange{first, last})
				total += last - first + 1
			}
		}
		if total != c.Count {
			return bad("chain %q: count %d, ranges hold %d", c.Chain, c.Count, total)
		}
		m.Chains = append(m.Chains, c)
	}
	if canon, err := m.Text(); err != nil || canon != text {
		return bad("not in canonical form")
	}
	return m, nil
}
