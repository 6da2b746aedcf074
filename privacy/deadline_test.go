package privacy_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/internal/testclock"
	"github.com/rampart-sdk/rampart/privacy"
)

// endOfDay is the last microsecond of y-m-d in loc: the instant a deadline
// falling on that day ends.
func endOfDay(y int, m time.Month, d int, loc *time.Location) time.Time {
	return time.Date(y, m, d+1, 0, 0, 0, 0, loc).Add(-time.Microsecond)
}

func mustLoad(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	require.NoError(t, err)
	return loc
}

// TestDeadlineAsTheLawCounts pins each jurisdiction's deadline at month ends,
// leap years and time zones. GDPR and UK GDPR months follow Regulation
// 1182/71 Art. 3(2)(c): a month from 31 January ends on the last day of
// February, where time.AddDate would give 3 March. CCPA counts 45 (90)
// calendar days beginning with the day of receipt.
func TestDeadlineAsTheLawCounts(t *testing.T) {
	t.Parallel()
	utc := time.UTC
	berlin := mustLoad(t, "Europe/Berlin")
	la := mustLoad(t, "America/Los_Angeles")
	at := func(y int, m time.Month, d, h, min int, loc *time.Location) time.Time {
		return time.Date(y, m, d, h, min, 0, 0, loc)
	}
	cases := []struct {
		name     string
		j        privacy.Jurisdiction
		received time.Time
		loc      *time.Location
		extended bool
		want     time.Time
	}{
		{"mid-month", privacy.GDPR, at(2026, time.January, 15, 10, 0, utc), utc, false, endOfDay(2026, time.February, 15, utc)},
		{"31 January, common year", privacy.GDPR, at(2027, time.January, 31, 10, 0, utc), utc, false, endOfDay(2027, time.February, 28, utc)},
		{"31 January, leap year", privacy.GDPR, at(2028, time.January, 31, 10, 0, utc), utc, false, endOfDay(2028, time.February, 29, utc)},
		{"29 January, common year", privacy.GDPR, at(2027, time.January, 29, 10, 0, utc), utc, false, endOfDay(2027, time.February, 28, utc)},
		{"31 March to 30 April", privacy.GDPR, at(2026, time.March, 31, 23, 59, utc), utc, false, endOfDay(2026, time.April, 30, utc)},
		{"December to January", privacy.GDPR, at(2026, time.December, 31, 0, 0, utc), utc, false, endOfDay(2027, time.January, 31, utc)},
		{"extended from 30 November", privacy.GDPR, at(2026, time.November, 30, 12, 0, utc), utc, true, endOfDay(2027, time.February, 28, utc)},
		{"extended from 30 November, leap year", privacy.GDPR, at(2027, time.November, 30, 12, 0, utc), utc, true, endOfDay(2028, time.February, 29, utc)},
		{"extended from 31 January", privacy.GDPR, at(2026, time.January, 31, 12, 0, utc), utc, true, endOfDay(2026, time.April, 30, utc)},
		{"UK GDPR counts the same", privacy.UKGDPR, at(2027, time.January, 31, 10, 0, utc), utc, false, endOfDay(2027, time.February, 28, utc)},
		{"UK GDPR extended", privacy.UKGDPR, at(2026, time.November, 30, 10, 0, utc), utc, true, endOfDay(2027, time.February, 28, utc)},
		// 1 February 00:30 in Berlin is 31 January 23:30 in UTC: the day of
		// receipt is the controller's.
		{"Berlin, after local midnight", privacy.GDPR, at(2027, time.February, 1, 0, 30, berlin), berlin, false, endOfDay(2027, time.March, 1, berlin)},
		{"same instant counted in UTC", privacy.GDPR, at(2027, time.February, 1, 0, 30, berlin), utc, false, endOfDay(2027, time.February, 28, utc)},
		// The deadline's day spans a DST change (29 March 2026 in Berlin).
		{"Berlin, across DST", privacy.GDPR, at(2026, time.February, 28, 9, 0, berlin), berlin, false, endOfDay(2026, time.March, 28, berlin)},
		{"CCPA 45 days", privacy.CCPA, at(2026, time.January, 1, 9, 0, la), la, false, endOfDay(2026, time.February, 14, la)},
		{"CCPA extended is 90 days, not three months", privacy.CCPA, at(2026, time.January, 1, 9, 0, la), la, true, endOfDay(2026, time.March, 31, la)},
		{"CCPA across a leap day", privacy.CCPA, at(2028, time.February, 1, 9, 0, utc), utc, false, endOfDay(2028, time.March, 16, utc)},
		{"CCPA late evening in California", privacy.CCPA, at(2026, time.March, 1, 23, 30, la), la, false, endOfDay(2026, time.April, 14, la)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := privacy.Deadline(tc.j, tc.received, tc.loc, tc.extended)
			require.NoError(t, err)
			require.True(t, tc.want.Equal(got), "want %s, got %s", tc.want, got)
			require.Equal(t, got, got.Truncate(time.Microsecond), "a deadline survives a timestamptz round trip")
		})
	}
	_, err := privacy.Deadline("mars", time.Now(), nil, false)
	require.ErrorIs(t, err, privacy.ErrInvalid)
}

// TestDeadlineNeverLaterThanTheLaw walks every day of two years (one leap)
// and checks the GDPR deadline is the same date one month on, or the last
// day of that month, never a day in the month after.
func TestDeadlineNeverLaterThanTheLaw(t *testing.T) {
	t.Parallel()
	for d := time.Date(2027, 1, 1, 12, 0, 0, 0, time.UTC); d.Year() < 2029; d = d.AddDate(0, 0, 1) {
		for _, ext := range []bool{false, true} {
			months := map[bool]int{false: 1, true: 3}[ext]
			got, err := privacy.Deadline(privacy.GDPR, d, time.UTC, ext)
			require.NoError(t, err)
			wantMonth := time.Month((int(d.Month())-1+months)%12 + 1)
			require.Equal(t, wantMonth, got.Month(), "received %s", d.Format(time.DateOnly))
			require.LessOrEqual(t, got.Day(), d.Day(), "received %s", d.Format(time.DateOnly))
			if got.Day() < d.Day() {
				require.Equal(t, 1, got.Add(time.Microsecond).Day(), "clamped to the month's last day")
			}
		}
	}
}

// TestOverdueAtTheLegalDeadline: a request received on 31 January is overdue
// from 1 March (time.AddDate would have kept it off the list until 4 March),
// and a CCPA request extended is overdue after 90 days, not three months.
func TestOverdueAtTheLegalDeadline(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := testclock.New(time.Date(2027, time.January, 31, 15, 0, 0, 0, time.UTC))
	m := newServices(t, privacy.NewMemoryStore(), privacy.WithClock(clk.Now))
	gdpr, err := m.Requests.Receive(ctx, privacy.Ref{Org: "org1", ID: "u1"}, privacy.KindAccess, true, "user:support")
	require.NoError(t, err)
	ccpa, err := m.Requests.Receive(ctx, privacy.Ref{Org: "org1", ID: "u2"}, privacy.KindErasure, true, "user:support",
		privacy.UnderJurisdiction(privacy.CCPA))
	require.NoError(t, err)
	require.Equal(t, privacy.CCPA, ccpa.Jurisdiction)
	_, err = m.Requests.Extend(ctx, privacy.Ref{Org: "org1", ID: ccpa.ID}, "user:dpo", "identity checks pending")
	require.NoError(t, err)
	_, err = m.Requests.Receive(ctx, privacy.Ref{Org: "org1", ID: "u3"}, privacy.KindAccess, true, "user:support",
		privacy.UnderJurisdiction("mars"))
	require.ErrorIs(t, err, privacy.ErrInvalid)

	overdueIDs := func() []string {
		over, err := m.Requests.Overdue(ctx)
		require.NoError(t, err)
		var ids []string
		for _, r := range over {
			ids = append(ids, r.ID)
		}
		return ids
	}
	clk.Set(time.Date(2027, time.February, 28, 23, 59, 59, 0, time.UTC))
	require.Empty(t, overdueIDs(), "still due on 28 February")
	clk.Set(time.Date(2027, time.March, 1, 0, 0, 0, 0, time.UTC))
	require.Equal(t, []string{gdpr.ID}, overdueIDs(), "overdue from 1 March")
	// 90 days beginning 31 January 2027 end on 30 April; three months would
	// have given 30 April too, so check the day after: 1 May is overdue.
	clk.Set(time.Date(2027, time.April, 30, 23, 0, 0, 0, time.UTC))
	require.Equal(t, []string{gdpr.ID}, overdueIDs())
	clk.Set(time.Date(2027, time.May, 1, 0, 0, 0, 0, time.UTC))
	require.Equal(t, []string{gdpr.ID, ccpa.ID}, overdueIDs())
}

// TestCCPAExtensionIsNinetyDays: received 1 December, three months would end
// on 1 March (91 days); the CCPA's 90 days end on 28 February.
func TestCCPAExtensionIsNinetyDays(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	la := mustLoad(t, "America/Los_Angeles")
	clk := testclock.New(time.Date(2026, time.December, 1, 9, 0, 0, 0, la))
	m := newServices(t, privacy.NewMemoryStore(), privacy.WithClock(clk.Now),
		privacy.WithLocation(la), privacy.WithJurisdiction(privacy.CCPA))
	r, err := m.Requests.Receive(ctx, privacy.Ref{Org: "org1", ID: "u1"}, privacy.KindAccess, true, "user:support")
	require.NoError(t, err)
	require.Equal(t, privacy.CCPA, r.Jurisdiction, "the default of the Requests")
	require.True(t, endOfDay(2027, time.January, 14, la).Equal(r.DueAt), "45 days: %s", r.DueAt)
	ext, err := m.Requests.Extend(ctx, privacy.Ref{Org: "org1", ID: r.ID}, "user:dpo", "many systems")
	require.NoError(t, err)
	require.True(t, endOfDay(2027, time.February, 28, la).Equal(ext.DueAt), "90 days: %s", ext.DueAt)
}
