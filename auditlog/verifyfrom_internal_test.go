package auditlog

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/mod/sumdb/tlog"
)

// A row edited in place, as a DBA with the triggers disabled would:
// after the last verified checkpoint VerifyFrom reads it and fails; before
// it, its stored tree still matches the checkpoint, so only a full
// verification reads it again (which is why VerifyFrom's doc asks for one
// now and then).
func TestVerifyFromRowEditedInPlace(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	build := func(t *testing.T) (s *memoryStore, last Checkpoint) {
		s = newMemoryStore()
		var es []Entry
		for i := range 130 {
			p := fmt.Appendf(nil, `{"i":%d}`, i)
			es = append(es, Entry{Org: "acme", Actor: "user:u", Action: "test.created", Target: fmt.Sprintf("doc:%d", i),
				Time: time.Unix(1_700_000_000+int64(i), 0).UTC(), Payload: p, PayloadDigest: PayloadDigest(p)})
		}
		for _, part := range [][]Entry{es[:100], es[100:]} {
			require.NoError(t, s.AppendBatch(ctx, "org:acme", func(h Head, tree tlog.HashReader) (*Batch, error) {
				b, _, _, err := Seal(h, tree, part)
				return b, err
			}))
			if len(part) == 100 {
				res, err := Verify(ctx, s, "org:acme", VerifyOptions{})
				require.NoError(t, err)
				last = res.Checkpoint() // what the verification of the first 100 kept
			}
		}
		return s, last
	}
	edit := func(s *memoryStore, seq int, f func(e *Entry)) {
		s.mu.Lock()
		defer s.mu.Unlock()
		f(&s.chains["org:acme"].entries[seq])
	}
	for _, tc := range []struct {
		name   string
		seq    int
		edit   func(e *Entry)
		reason Reason
	}{
		{"target after", 110, func(e *Entry) { e.Target = "doc:other" }, ReasonHashMismatch},
		{"payload after", 120, func(e *Entry) { e.Payload = []byte(`{"i":0}`) }, ReasonPayloadMismatch},
		{"hash recomputed after", 105, func(e *Entry) { e.Target = "doc:other"; e.Hash = EntryHash(e) }, ReasonTreeMismatch},
		{"newest entry the checkpoint covers", 99, func(e *Entry) { e.Target = "doc:other" }, ReasonHashMismatch},
		{"hash recomputed at the checkpoint", 99, func(e *Entry) { e.Target = "doc:other"; e.Hash = EntryHash(e) }, ReasonCheckpointMismatch},
		{"target before", 40, func(e *Entry) { e.Target = "doc:other" }, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, cp := build(t)
			edit(s, tc.seq, tc.edit)
			_, err := VerifyFrom(ctx, s, "org:acme", cp, VerifyOptions{})
			_, fullErr := VerifyFrom(ctx, s, "org:acme", Checkpoint{}, VerifyOptions{})
			require.Error(t, fullErr, "a full verification catches every edit")
			if tc.reason == "" {
				require.NoError(t, err, "an earlier row edited with its tree left alone needs a full verification")
				return
			}
			var ve *VerifyError
			require.ErrorAs(t, err, &ve)
			require.Equal(t, tc.reason, ve.Reason, "%v", err)
		})
	}
}
