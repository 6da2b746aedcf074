package pgstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/internal/pgtest"
	"github.com/rampart-sdk/rampart/mfa"
	"github.com/rampart-sdk/rampart/mfa/mfatest"
	"github.com/rampart-sdk/rampart/mfa/pgstore"
)

// TestStatementsPerCall bounds the round trips of each login-time path, as
// counted by a pgx tracer: a TOTP verification is one read and one
// conditional write, right or wrong, and so is a recovery code. (Before the
// attempt state moved onto the enrolment row, a verification took nine: a
// read, a transaction of four statements to reserve the attempt, the replay
// guard and clearing the attempts.)
func TestStatementsPerCall(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.New(t)
	require.NoError(t, pgstore.Migrate(ctx, db.Pool))
	pool, st := pgtest.CountingPool(t, db)

	now := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	m, err := mfa.New("Acme", mustNew(t, pool), mfatest.NewSealer(), mfa.WithClock(func() time.Time { return now }))
	require.NoError(t, err)
	acct := mfa.Account{Org: "org_1", User: "u_1", Kind: mfa.KindStaff}
	setup, err := m.Begin(ctx, acct, "ada@example.com")
	require.NoError(t, err)
	secret := mfatest.SecretOf(t, setup)
	code := func() string {
		c, err := mfa.TOTP(secret, now, mfa.SHA1, 6)
		require.NoError(t, err)
		return c
	}
	var codes *mfa.RecoveryCodes
	n, sqls := st.Count(func() {
		codes, err = m.Confirm(ctx, acct, code())
		require.NoError(t, err)
	})
	require.Equal(t, 6, n, "Confirm: read, then BEGIN, UPDATE, DELETE and INSERT codes, COMMIT: %q", sqls)
	wrong := "000000"
	now = now.Add(time.Minute)
	if wrong == code() {
		wrong = "111111"
	}

	for _, tc := range []struct {
		name    string
		want    int
		wantErr error
		run     func() error
	}{
		{"Verify, right code", 2, nil, func() error { return m.Verify(ctx, acct, code()) }},
		{"Verify, wrong code", 2, mfa.ErrInvalidCode, func() error { return m.Verify(ctx, acct, wrong) }},
		{"Verify, malformed code", 2, mfa.ErrInvalidCode, func() error { return m.Verify(ctx, acct, "12") }},
		{"Verify, replayed code", 2, mfa.ErrCodeReused, func() error { return m.Verify(ctx, acct, code()) }},
		{"UseRecoveryCode, right code", 2, nil, func() error { return m.UseRecoveryCode(ctx, acct, codes.Codes()[0]) }},
		{"UseRecoveryCode, wrong code", 3, mfa.ErrInvalidCode, func() error { return m.UseRecoveryCode(ctx, acct, "aaaa-aaaa-aaaa-aaaa") }},
	} {
		var err error
		n, sqls := st.Count(func() { err = tc.run() })
		if tc.wantErr == nil {
			require.NoError(t, err, tc.name)
		} else {
			require.ErrorIs(t, err, tc.wantErr, tc.name)
		}
		require.Equal(t, tc.want, n, "%s: %q", tc.name, sqls)
	}
}
