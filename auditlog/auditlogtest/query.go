package auditlogtest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/auditlog"
)

// scanOnly hides every method of a store but Scan, so that ReadPage and
// Entries take their generic path.
type scanOnly struct{ s auditlog.Scanner }

func (o scanOnly) Scan(ctx context.Context, chain string, from uint64, fn func(e *auditlog.Entry) error) error {
	return o.s.Scan(ctx, chain, from, fn)
}

// testQueries checks ReadPage and Entries over the store, through its
// EntryQuerier if it has one and through Scan alone, against the chain
// filtered in memory.
func testQueries(t *testing.T, newStore func(t *testing.T) auditlog.Store) {
	ctx := context.Background()
	t.Run("PagesAndStreams", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		l, clock := NewLog(t, s)
		for i := range 40 {
			if i == 20 {
				clock.Advance(time.Hour)
			}
			action := []string{"test.created", "test.job"}[min(i%3, 1)]
			require.NoError(t, l.Record(ctx, "acme", fmt.Sprintf("user:u%d", i%4), action, fmt.Sprintf("doc:%d", i%5), map[string]any{"i": i}))
		}
		require.NoError(t, l.Record(ctx, "globex", "user:u0", "test.created", "", nil))
		all := Entries(t, s, "org:acme")
		require.Len(t, all, 40)
		mid := all[20].Time

		queries := map[string]auditlog.Query{
			"all":             {},
			"from":            {From: 7},
			"range":           {From: 3, To: 31},
			"to":              {To: 5},
			"action":          {Action: "test.created"},
			"actor":           {Actor: "user:u1"},
			"target":          {Target: "doc:2"},
			"since":           {Since: mid},
			"until":           {Until: mid},
			"window":          {Since: all[10].Time, Until: all[30].Time},
			"action actor":    {Action: "test.job", Actor: "user:u2", From: 2},
			"all filters":     {Action: "test.job", Actor: "user:u3", Target: "doc:1", Since: all[1].Time, Until: all[39].Time, From: 1, To: 39},
			"no match":        {Action: "test.nothing"},
			"beyond the head": {From: 1000},
			"empty range":     {From: 5, To: 5},
		}
		for name, q := range queries {
			var want []uint64
			for i := range all {
				if q.Match(&all[i]) {
					want = append(want, all[i].Seq)
				}
			}
			for _, via := range []struct {
				name string
				s    auditlog.Scanner
			}{{"store", s}, {"scan", scanOnly{s}}} {
				t.Run(name+" via "+via.name, func(t *testing.T) {
					for _, c := range []struct{ limit, scan int }{{1, 0}, {3, 0}, {100, 0}, {3, 4}, {100, 1}} {
						var got []uint64
						pq := q
						pq.ScanLimit = c.scan
						for pages := 0; ; pages++ {
							require.Less(t, pages, 100, "paging does not end")
							p, err := auditlog.ReadPage(ctx, via.s, "org:acme", pq, c.limit)
							require.NoError(t, err)
							require.LessOrEqual(t, len(p.Entries), c.limit)
							for _, e := range p.Entries {
								require.Equal(t, all[e.Seq], e, "entry %d as stored", e.Seq)
								got = append(got, e.Seq)
							}
							if !p.More {
								if len(p.Entries) > 0 {
									require.Equal(t, p.Entries[len(p.Entries)-1].Seq+1, p.Next)
								} else {
									require.Equal(t, pq.From, p.Next)
								}
								break
							}
							require.Greater(t, p.Next, pq.From, "every page moves the cursor")
							if len(p.Entries) > 0 {
								require.Greater(t, p.Next, p.Entries[len(p.Entries)-1].Seq)
							}
							if c.scan == 0 {
								require.Len(t, p.Entries, c.limit, "a page with more after it is full")
							} else if q.Action != "" || q.Actor != "" || q.Target != "" || !q.Since.IsZero() || !q.Until.IsZero() {
								require.LessOrEqual(t, p.Next-pq.From, uint64(c.scan), "a filtered page examines at most its scan limit")
							}
							pq.From = p.Next
						}
						require.Equal(t, want, got, "limit %d, scan limit %d", c.limit, c.scan)
					}
					var streamed []uint64
					for e, err := range auditlog.Entries(ctx, via.s, "org:acme", q) {
						require.NoError(t, err)
						require.Equal(t, all[e.Seq], e)
						streamed = append(streamed, e.Seq)
					}
					require.Equal(t, want, streamed)
				})
			}
		}
	})

	t.Run("PageLimits", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		l, _ := NewLog(t, s)
		for i := range auditlog.DefaultPageSize + 5 {
			require.NoError(t, l.Record(ctx, "acme", "user:u", "test.created", "", map[string]any{"i": i}))
		}
		p, err := auditlog.ReadPage(ctx, s, "org:acme", auditlog.Query{}, 0)
		require.NoError(t, err)
		require.Len(t, p.Entries, auditlog.DefaultPageSize, "0 means the default page size")
		require.True(t, p.More)
		require.EqualValues(t, auditlog.DefaultPageSize, p.Next)
		p, err = auditlog.ReadPage(ctx, s, "org:acme", auditlog.Query{}, auditlog.MaxPageSize)
		require.NoError(t, err)
		require.Len(t, p.Entries, auditlog.DefaultPageSize+5)
		require.False(t, p.More)
		for _, limit := range []int{-1, auditlog.MaxPageSize + 1, 1 << 40} {
			_, err := auditlog.ReadPage(ctx, s, "org:acme", auditlog.Query{}, limit)
			require.ErrorIs(t, err, auditlog.ErrBadQuery, "limit %d", limit)
		}
		for _, q := range []auditlog.Query{{From: 5, To: 4}, {Since: time.Unix(10, 0), Until: time.Unix(9, 0)},
			{ScanLimit: -1}, {ScanLimit: auditlog.MaxPageScan + 1}} {
			_, err := auditlog.ReadPage(ctx, s, "org:acme", q, 10)
			require.ErrorIs(t, err, auditlog.ErrBadQuery)
			for _, err := range auditlog.Entries(ctx, s, "org:acme", q) {
				require.ErrorIs(t, err, auditlog.ErrBadQuery)
			}
		}
		p, err = auditlog.ReadPage(ctx, s, "org:nobody", auditlog.Query{From: 3}, 10)
		require.NoError(t, err)
		require.Empty(t, p.Entries)
		require.False(t, p.More)
		require.EqualValues(t, 3, p.Next)

		// Stopping a stream early stops it.
		n := 0
		for _, err := range auditlog.Entries(ctx, s, "org:acme", auditlog.Query{}) {
			require.NoError(t, err)
			if n++; n == 3 {
				break
			}
		}
		require.Equal(t, 3, n)
	})
}

// testVerifyFrom checks incremental verification over the store: from a
// kept checkpoint only the new entries are read, the result matches a full
// verification, and a checkpoint the chain does not extend is refused.
func testVerifyFrom(t *testing.T, newStore func(t *testing.T) auditlog.Store) {
	ctx := context.Background()
	t.Run("VerifyFrom", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		l, _ := NewLog(t, s)
		record := func(n int) {
			for i := range n {
				require.NoError(t, l.Record(ctx, "acme", "user:u", "test.created", "", map[string]any{"i": i}))
			}
		}
		record(33)
		res, err := auditlog.VerifyFrom(ctx, s, "org:acme", auditlog.Checkpoint{}, auditlog.VerifyOptions{})
		require.NoError(t, err)
		require.EqualValues(t, 33, res.Checked)
		last := res.Checkpoint()
		for _, more := range []int{0, 1, 30} {
			record(more)
			res, err := auditlog.VerifyFrom(ctx, s, "org:acme", last, auditlog.VerifyOptions{})
			require.NoError(t, err)
			require.EqualValues(t, more, res.Checked)
			full, err := auditlog.Verify(ctx, s, "org:acme", auditlog.VerifyOptions{})
			require.NoError(t, err)
			require.Equal(t, full.Checkpoint(), res.Checkpoint())
			last = res.Checkpoint()
		}
		forged := last
		forged.Root[0] ^= 1
		_, err = auditlog.VerifyFrom(ctx, s, "org:acme", forged, auditlog.VerifyOptions{})
		var ve *auditlog.VerifyError
		require.ErrorAs(t, err, &ve)
		require.Equal(t, auditlog.ReasonCheckpointMismatch, ve.Reason)
		beyond := last
		beyond.Size += 3
		_, err = auditlog.VerifyFrom(ctx, s, "org:acme", beyond, auditlog.VerifyOptions{})
		require.ErrorIs(t, err, auditlog.ErrChainBroken, "a checkpoint beyond the head: rows were deleted")
	})
}
