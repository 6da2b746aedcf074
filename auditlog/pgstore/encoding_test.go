package pgstore_test

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/auditlog"
	"github.com/rampart-sdk/rampart/auditlog/auditlogtest"
)

// The largest schema version Register accepts is one PostgreSQL stores and
// gives back; a larger one is refused at registration, not at every append.
func TestSchemaVersionRange(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, s := newDB(t)
	l, err := auditlog.New(s)
	require.NoError(t, err)
	require.NoError(t, l.Register(auditlog.ActionType{Name: "a.max", Category: auditlog.CategoryData, SchemaVersion: auditlog.MaxSchemaVersion}))
	require.ErrorIs(t, l.Register(auditlog.ActionType{Name: "a.big", Category: auditlog.CategoryData, SchemaVersion: math.MaxUint32}), auditlog.ErrBadActionType)
	require.NoError(t, l.Record(ctx, "acme", "user:1", "a.max", "", nil))
	es := auditlogtest.Entries(t, s, "org:acme")
	require.Len(t, es, 1)
	require.EqualValues(t, auditlog.MaxSchemaVersion, es[0].SchemaVersion)
	_, err = auditlog.Verify(ctx, s, "org:acme", auditlog.VerifyOptions{})
	require.NoError(t, err)
}

// The ends of the time range, and sub-microsecond times on both sides of
// 1970, come back from PostgreSQL as the instant that was hashed.
func TestTimeRangeRoundTrips(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, s := newDB(t)
	l, _ := auditlogtest.NewLog(t, s)
	in := []time.Time{
		time.UnixMicro(auditlog.MinTimeMicros),
		time.UnixMicro(auditlog.MaxTimeMicros).Add(999 * time.Nanosecond),
		time.Date(1969, 12, 31, 23, 59, 59, 999999500, time.UTC),
		time.Date(1900, 2, 28, 12, 0, 0, 1, time.UTC),
		time.Date(2026, 1, 2, 3, 4, 5, 678901999, time.UTC),
	}
	for _, at := range in {
		_, err := l.Append(ctx, auditlog.Entry{Org: "acme", Actor: "user:1", Action: "test.created", Time: at})
		require.NoError(t, err, at)
	}
	es := auditlogtest.Entries(t, s, "org:acme")
	require.Len(t, es, len(in))
	for i, at := range in {
		require.Equal(t, at.UnixMicro(), es[i].Time.UnixMicro())
	}
	_, err := auditlog.Verify(ctx, s, "org:acme", auditlog.VerifyOptions{})
	require.NoError(t, err)
}
