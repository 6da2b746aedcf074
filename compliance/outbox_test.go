package compliance_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/compliance"
)

type fakeOutbox struct {
	depth int64
	age   time.Duration
	err   error
}

func (f fakeOutbox) OutboxBacklog(context.Context) (int64, time.Duration, error) {
	return f.depth, f.age, f.err
}

// TestOutboxCheck: the check passes while the oldest entry waited at most
// maxAge, says how many wait and for how long, and fails on a read error
// or without an outbox.
func TestOutboxCheck(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		o       compliance.Outbox
		pass    bool
		details string
	}{
		{"drained", fakeOutbox{}, true, "0 waiting"},
		{"keeping up", fakeOutbox{depth: 12, age: 40 * time.Millisecond}, true, "12 waiting, the oldest for 40ms"},
		{"at the limit", fakeOutbox{depth: 1, age: time.Minute}, true, "1 waiting, the oldest for 1m0s"},
		{"stuck", fakeOutbox{depth: 3, age: 2 * time.Minute}, false, "3 waiting, the oldest for 2m0s, longer than 1m0s"},
		{"unreadable", fakeOutbox{err: errors.New("connection refused")}, false, "connection refused"},
		{"none", nil, false, "no audit outbox to check"},
	}
	for _, tc := range cases {
		res := compliance.OutboxCheck(tc.o, time.Minute)(context.Background())
		require.Equal(t, tc.pass, res.Pass, tc.name)
		require.Equal(t, tc.details, res.Details, tc.name)
	}
}
