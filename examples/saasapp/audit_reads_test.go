package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/auditlog"
)

// The audit route answers a page at a time and links the next one, so that
// a long chain costs one page per request; walking the links returns every
// entry once, in order.
func TestAuditListPages(t *testing.T) {
	t.Parallel()
	clk := newClock()
	a, err := newApp(context.Background(), config{Now: clk.Now, Warn: io.Discard, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	t.Cleanup(a.Close)
	ts := httptest.NewTLSServer(a)
	t.Cleanup(ts.Close)
	ada := newClient(t, ts, clk)
	org := ada.call("POST", "/signup", map[string]string{"organisation": "Acme", "name": "Ada",
		"email": "ada@example.com", "password": "correct horse battery staple"}, http.StatusOK)["org"].(string)
	ctx := context.Background()
	for i := range 2*auditlog.DefaultPageSize + 10 {
		require.NoError(t, a.audit.Record(ctx, org, "user:seed", actProfileUpdated, fmt.Sprintf("user:%d", i), map[string]any{"i": i}))
	}
	head, err := a.auditStore.Head(ctx, auditlog.ChainFor(org))
	require.NoError(t, err)

	linkRE := regexp.MustCompile(`^<([^>]+)>; rel="next"$`)
	walk := func(path string) (seqs []uint64, pages int) {
		for path != "" {
			require.Less(t, pages, 100)
			status, body, hdr := ada.do("GET", path, nil)
			require.Equal(t, http.StatusOK, status, "%s", body)
			var page struct {
				Entries []auditEntry `json:"entries"`
				Next    string       `json:"next"`
			}
			require.NoError(t, json.Unmarshal(body, &page))
			for _, e := range page.Entries {
				seqs = append(seqs, e.Seq)
			}
			pages++
			path = page.Next
			if m := linkRE.FindStringSubmatch(hdr.Get("Link")); path != "" {
				require.NotNil(t, m, "Link header %q", hdr.Get("Link"))
				require.Equal(t, path, m[1])
			} else {
				require.Empty(t, hdr.Get("Link"))
			}
		}
		return seqs, pages
	}
	seqs, pages := walk("/orgs/" + org + "/audit")
	require.Equal(t, 3, pages, "default page size %d", auditlog.DefaultPageSize)
	require.Len(t, seqs, int(head.Size))
	for i, s := range seqs {
		require.EqualValues(t, i, s)
	}
	seqs, pages = walk(fmt.Sprintf("/orgs/%s/audit?after=4&limit=50&action=%s", org, actProfileUpdated))
	firstSeed := head.Size - (2*auditlog.DefaultPageSize + 10)
	require.Less(t, firstSeed, uint64(5), "the signup wrote a few entries before the seeded ones")
	require.Len(t, seqs, int(head.Size-5), "the seeded entries after seq 4")
	require.Equal(t, 5, pages)
	require.EqualValues(t, 5, seqs[0])

	for _, bad := range []string{"limit=0", "limit=1001", "limit=x", "after=-1", "after=x"} {
		status, body, _ := ada.do("GET", "/orgs/"+org+"/audit?"+bad, nil)
		require.Equal(t, http.StatusBadRequest, status, "%s: %s", bad, body)
	}
}

// countingStore counts the entries the audit store's Scan hands out.
type countingStore struct {
	auditlog.Store
	mu   sync.Mutex
	read uint64
}

func (c *countingStore) Scan(ctx context.Context, chain string, from uint64, fn func(e *auditlog.Entry) error) error {
	return c.Store.Scan(ctx, chain, from, func(e *auditlog.Entry) error {
		c.mu.Lock()
		c.read++
		c.mu.Unlock()
		return fn(e)
	})
}

func (c *countingStore) reset() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.read
	c.read = 0
	return n
}

// The audit-verifier job verifies from the checkpoint of its last run: the
// second run reads the new entries (and the newest one of the checkpoint
// per chain), not the chains again; every fullVerifyEvery runs it reads
// everything.
func TestAuditVerifierIsIncremental(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	ctx := context.Background()
	for i := range 50 {
		require.NoError(t, a.audit.Record(ctx, []string{"acme", "globex"}[i%2], "user:u", actProfileUpdated, "", map[string]any{"i": i}))
	}
	counting := &countingStore{Store: a.auditStore}
	a.auditStore = counting
	total := func() (n uint64, chains int) {
		cs, err := counting.Store.Chains(ctx)
		require.NoError(t, err)
		for _, c := range cs {
			h, err := counting.Store.Head(ctx, c)
			require.NoError(t, err)
			n += h.Size
		}
		return n, len(cs)
	}

	require.NoError(t, a.verifyAllChains(ctx))
	all, chains := total()
	require.Equal(t, all, counting.reset(), "the first run verifies every chain in full")

	for i := range 7 {
		require.NoError(t, a.audit.Record(ctx, "acme", "user:u", actProfileUpdated, "", map[string]any{"i": i}))
	}
	require.NoError(t, a.verifyAllChains(ctx))
	require.EqualValues(t, 7+chains, counting.reset(), "only the new entries and one per chain")

	for run := 2; run < fullVerifyEvery; run++ {
		require.NoError(t, a.verifyAllChains(ctx))
		require.EqualValues(t, chains, counting.reset())
	}
	require.NoError(t, a.verifyAllChains(ctx))
	all, _ = total()
	require.Equal(t, all, counting.reset(), "every fullVerifyEvery runs, a full verification")
}
