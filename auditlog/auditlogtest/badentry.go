package auditlogtest

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/auditlog"
)

// badEntry is an entry with one per-entry defect and the error Append must
// refuse it with.
type badEntry struct {
	Name  string
	Entry auditlog.Entry
	Want  error
}

// goodEntry is an entry of org acme that every store must accept.
func goodEntry() auditlog.Entry {
	return auditlog.Entry{Org: "acme", Actor: "user:1", Action: "test.created", Target: "doc:1",
		Request: auditlog.Request{IP: "192.0.2.1", UserAgent: "ua", RequestID: "r"}, Payload: []byte(`{"ok":true}`)}
}

// badEntries lists every kind of per-entry defect: each one must fail its
// own Append, before the entry joins a group-commit batch, and never the
// entries of the callers that share the batch.
func badEntries() []badEntry {
	with := func(name string, want error, f func(e *auditlog.Entry)) badEntry {
		e := goodEntry()
		f(&e)
		return badEntry{Name: name, Entry: e, Want: want}
	}
	utc := func(y int, mo time.Month, d, h, mi, s, ns int) time.Time {
		return time.Date(y, mo, d, h, mi, s, ns, time.UTC)
	}
	return []badEntry{
		with("time after year 9999", auditlog.ErrBadEntry, func(e *auditlog.Entry) { e.Time = utc(10000, 1, 1, 0, 0, 0, 0) }),
		with("time before year 0", auditlog.ErrBadEntry, func(e *auditlog.Entry) { e.Time = utc(0, 1, 1, 0, 0, 0, 0).Add(-time.Nanosecond) }),
		with("time beyond PostgreSQL's timestamptz", auditlog.ErrBadEntry, func(e *auditlog.Entry) { e.Time = utc(294277, 1, 1, 0, 0, 0, 0) }),
		with("time before PostgreSQL's timestamptz", auditlog.ErrBadEntry, func(e *auditlog.Entry) { e.Time = utc(-4713, 1, 1, 0, 0, 0, 0) }),
		with("time beyond int64 microseconds", auditlog.ErrBadEntry, func(e *auditlog.Entry) { e.Time = utc(300000, 1, 1, 0, 0, 0, 0) }),
		with("unregistered action", auditlog.ErrUnknownAction, func(e *auditlog.Entry) { e.Action = "test.unknown" }),
		with("org with a non-ASCII character", auditlog.ErrBadEntry, func(e *auditlog.Entry) { e.Org = "zürich" }),
		with("org with a space", auditlog.ErrBadEntry, func(e *auditlog.Entry) { e.Org = "acme corp" }),
		with("org longer than 196 bytes", auditlog.ErrBadEntry, func(e *auditlog.Entry) { e.Org = strings.Repeat("a", 197) }),
		with("chain of another org", auditlog.ErrBadEntry, func(e *auditlog.Entry) { e.Chain = "org:globex" }),
		with("actor of an unknown kind", auditlog.ErrBadActor, func(e *auditlog.Entry) { e.Actor = "robot:1" }),
		with("actor without id", auditlog.ErrBadActor, func(e *auditlog.Entry) { e.Actor = "user:" }),
		with("target without type", auditlog.ErrBadTarget, func(e *auditlog.Entry) { e.Target = "doc" }),
		with("NUL in request id", auditlog.ErrBadEntry, func(e *auditlog.Entry) { e.Request.RequestID = "r\x00" }),
		with("invalid UTF-8 in IP", auditlog.ErrBadEntry, func(e *auditlog.Entry) { e.Request.IP = "\xff" }),
		with("user agent longer than 4096 bytes", auditlog.ErrBadEntry, func(e *auditlog.Entry) { e.Request.UserAgent = strings.Repeat("u", 4097) }),
		with("payload over 1 MiB", auditlog.ErrBadPayload, func(e *auditlog.Entry) {
			e.Payload = []byte(`{"a":"` + strings.Repeat("x", auditlog.MaxPayloadBytes) + `"}`)
		}),
		with("payload not an object", auditlog.ErrBadPayload, func(e *auditlog.Entry) { e.Payload = []byte(`[1]`) }),
		with("payload with a duplicate key", auditlog.ErrBadPayload, func(e *auditlog.Entry) { e.Payload = []byte(`{"a":1,"a":2}`) }),
		with("payload integer beyond 2^53", auditlog.ErrBadPayload, func(e *auditlog.Entry) { e.Payload = []byte(`{"n":9007199254740993}`) }),
		with("payload with invalid UTF-8", auditlog.ErrBadPayload, func(e *auditlog.Entry) { e.Payload = []byte("{\"s\":\"\xff\"}") }),
		with("payload with a byte-order mark", auditlog.ErrBadPayload, func(e *auditlog.Entry) { e.Payload = []byte("\xef\xbb\xbf{}") }),
	}
}

// testBadEntryFailsAlone appends each bad entry together with good ones
// from other goroutines, released at once so that they share batches: the
// bad entry's caller gets an error it can match, every other caller
// succeeds, and the chain holds exactly the good entries and verifies.
func testBadEntryFailsAlone(t *testing.T, s auditlog.Store) {
	ctx := context.Background()
	l, _ := NewLog(t, s, auditlog.WithMaxBatch(64))
	const good = 8
	var appended uint64
	for _, bad := range badEntries() {
		start := make(chan struct{})
		var wg sync.WaitGroup
		errs := make([]error, good)
		for i := range good {
			wg.Go(func() {
				<-start
				_, errs[i] = l.Append(ctx, goodEntry())
			})
		}
		var badErr error
		wg.Go(func() {
			<-start
			_, badErr = l.Append(ctx, bad.Entry)
		})
		close(start)
		wg.Wait()
		require.ErrorIs(t, badErr, bad.Want, bad.Name)
		for i, err := range errs {
			require.NoError(t, err, "%s: good append %d failed", bad.Name, i)
		}
		appended += good
	}
	res, err := auditlog.Verify(ctx, s, "org:acme", auditlog.VerifyOptions{})
	require.NoError(t, err)
	require.Equal(t, appended, res.Size)
	for _, c := range []string{"org:globex", auditlog.ChainFor(strings.Repeat("a", 197))} {
		h, err := s.Head(ctx, c)
		require.NoError(t, err)
		require.Zero(t, h.Size, c)
	}
}
