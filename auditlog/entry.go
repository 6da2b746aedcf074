package auditlog

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"time"

	"golang.org/x/mod/sumdb/tlog"
)

// Domain separation and format version of the entry hash. ENCODING.md
// defines the bytes; testdata/vectors.json pins them.
const (
	HashPrefix    = "rampart.auditlog.v1\x00"
	FormatVersion = 1
)

// GlobalChain is the chain of entries that belong to no organisation
// (system events). An organisation's chain is "org:" + its ID.
const GlobalChain = "global"

// ChainFor returns the chain an organisation's entries go to: one chain per
// organisation, so that one tenant's export and verification never needs
// another tenant's rows, plus GlobalChain for org "".
func ChainFor(org string) string {
	if org == "" {
		return GlobalChain
	}
	return "org:" + org
}

// Request is metadata of the request that caused an entry.
type Request struct {
	IP        string `json:"ip,omitempty"`
	UserAgent string `json:"user_agent,omitempty"`
	RequestID string `json:"request_id,omitempty"`
}

// Entry is one audit record. The fields before Payload are the header: they
// are hashed directly and kept forever. The payload is committed through its
// SHA-256 digest, so that retention can remove it without breaking the chain.
type Entry struct {
	Chain string    `json:"chain"`
	Seq   uint64    `json:"seq"`
	Time  time.Time `json:"time"`
	Org   string    `json:"org"`
	// Actor is "user:<id>", "apikey:<id>" or "system:<source>".
	Actor         string  `json:"actor"`
	Action        string  `json:"action"`
	SchemaVersion uint32  `json:"schema_version"`
	Target        string  `json:"target"`
	Request       Request `json:"request"`
	// Payload is the canonical JSON object; nil once pruned.
	Payload       []byte    `json:"-"`
	PayloadDigest tlog.Hash `json:"-"`
	PrevHash      tlog.Hash `json:"-"`
	Hash          tlog.Hash `json:"-"`
}

// Receipt is what Append returns once an entry is durable.
type Receipt struct {
	Chain string
	Seq   uint64
	Hash  tlog.Hash
}

// Head is the newest state of a chain: Size entries, the last one's Hash.
// An empty chain has Size 0 and a zero Hash.
type Head struct {
	Chain string
	Size  uint64
	Hash  tlog.Hash
}

// The range of an entry's time, in UTC microseconds since the Unix epoch
// (time.Time.UnixMicro: the precision entries keep, as PostgreSQL's
// timestamptz does; sub-microsecond precision is truncated towards the
// past, also before 1970: 1969-12-31T23:59:59.9999995Z is -1):
// 0000-01-01T00:00:00Z to 9999-12-31T23:59:59.999999Z. It is what every
// place an entry's time goes can hold and give back unchanged: RFC 3339
// and encoding/json (exports, checkpoints) write four-digit years only,
// PostgreSQL's timestamptz holds 4713 BC to 294276 AD, and the hash's
// signed 64-bit microseconds years -290308 to 294247. Append refuses a
// time outside it with ErrBadEntry before the entry joins a batch.
const (
	MinTimeMicros int64 = -62167219200000000
	MaxTimeMicros int64 = 253402300799999999
)

// checkTime refuses a time outside [MinTimeMicros, MaxTimeMicros] after
// truncation to microseconds. It compares time.Time values, not
// t.UnixMicro(), which wraps around for years beyond ±292277.
func checkTime(t time.Time) error {
	if t.Before(time.UnixMicro(MinTimeMicros)) || !t.Before(time.UnixMicro(MaxTimeMicros+1)) {
		return fmt.Errorf("%w: time %s is outside 0000-01-01T00:00:00Z..9999-12-31T23:59:59.999999Z", ErrBadEntry, t.UTC().Format(time.RFC3339Nano))
	}
	return nil
}

// PayloadDigest is SHA-256 of the canonical payload bytes.
func PayloadDigest(canonical []byte) tlog.Hash { return sha256.Sum256(canonical) }

// EntryHash computes the hash of e from its header, PrevHash and
// PayloadDigest (never from Payload). ENCODING.md defines the bytes.
func EntryHash(e *Entry) tlog.Hash {
	var buf [512]byte
	return sha256.Sum256(appendEntry(buf[:0], e))
}

// EncodeEntry returns the exact bytes EntryHash hashes, for re-implementers
// and test vectors.
func EncodeEntry(e *Entry) []byte { return appendEntry(nil, e) }

func appendEntry(b []byte, e *Entry) []byte {
	str := func(b []byte, s string) []byte {
		return append(binary.BigEndian.AppendUint32(b, uint32(len(s))), s...)
	}
	b = append(b, HashPrefix...)
	b = append(b, FormatVersion)
	b = append(b, e.PrevHash[:]...)
	b = str(b, e.Chain)
	b = binary.BigEndian.AppendUint64(b, e.Seq)
	b = binary.BigEndian.AppendUint64(b, uint64(e.Time.UnixMicro()))
	b = str(b, e.Org)
	b = str(b, e.Actor)
	b = str(b, e.Action)
	b = binary.BigEndian.AppendUint32(b, e.SchemaVersion)
	b = str(b, e.Target)
	b = str(b, e.Request.IP)
	b = str(b, e.Request.UserAgent)
	b = str(b, e.Request.RequestID)
	return append(b, e.PayloadDigest[:]...)
}

// checkHeader validates the header fields an entry may carry.
func checkHeader(e *Entry) error {
	// The org first: the chain is derived from it, and the caller wrote it.
	if e.Org != "" {
		if err := checkName("org", e.Org, maxOrgLen); err != nil {
			return fmt.Errorf("%w: %v", ErrBadEntry, err)
		}
	}
	if err := checkName("chain", e.Chain, maxNameLen); err != nil {
		return fmt.Errorf("%w: %v", ErrBadEntry, err)
	}
	if err := checkActor(e.Actor); err != nil {
		return err
	}
	if err := checkTarget(e.Target); err != nil {
		return err
	}
	for what, v := range map[string]string{"ip": e.Request.IP, "user agent": e.Request.UserAgent, "request id": e.Request.RequestID} {
		if err := checkField(what, v, maxFieldLen); err != nil {
			return fmt.Errorf("%w: %v", ErrBadEntry, err)
		}
	}
	return nil
}
