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
