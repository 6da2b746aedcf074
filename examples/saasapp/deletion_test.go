package main

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/auditlog"
	"github.com/rampart-sdk/rampart/internal/pgtest"
	"github.com/rampart-sdk/rampart/privacy"
)

// An account deletion on PostgreSQL is one transaction: when a step after
// privacy's transition fails (the app's own state change, the revocation
// of the sessions), nothing is committed, neither privacy's state, nor the
// account's, nor its audit entry, and the user's session still works; a
// retry then succeeds (no "already being deleted") and leaves the subject
// in deletion, no live session, and exactly one audit entry.
func TestAccountDeletionIsOneTransaction(t *testing.T) {
	for _, tc := range []struct{ step, event, when string }{
		{"the app's state change", "UPDATE ON app_users", "NEW.state = 'deletion_requested'"},
		{"the revocation of the sessions", "DELETE ON authn_sessions", "true"},
	} {
		t.Run(tc.step, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			a, ts, clk, ada, org := startApp(t, pgtest.New(t).URL)
			bobID := ada.call("POST", "/orgs/"+org+"/members", map[string]string{"name": "Bob", "email": "bob@example.com",
				"role": "support", "password": "bob's long passphrase"}, http.StatusCreated)["id"].(string)
			bob := newClient(t, ts, clk)
			bob.call("POST", "/login", map[string]string{"email": "bob@example.com", "password": "bob's long passphrase"}, http.StatusOK)

			// The step fails once, after privacy's transition and its
			// outbox row were written in the transaction, which runs as the
			// application role (it draws the sequence).
			_, err := a.pool.Exec(ctx, `CREATE SEQUENCE deletion_fault;
				GRANT USAGE ON SEQUENCE deletion_fault TO `+pgx.Identifier{a.appRole}.Sanitize()+`;
				CREATE FUNCTION deletion_fault() RETURNS trigger LANGUAGE plpgsql AS $$
				BEGIN
					IF `+tc.when+` AND nextval('deletion_fault') = 1 THEN
						RAISE EXCEPTION 'injected failure';
					END IF;
					RETURN COALESCE(NEW, OLD);
				END $$;
				CREATE TRIGGER deletion_fault BEFORE `+tc.event+` FOR EACH ROW EXECUTE FUNCTION deletion_fault()`)
			require.NoError(t, err)

			_, err = a.deleteAccount(ctx, org, bobID, "user:admin", "test")
			require.ErrorContains(t, err, "injected failure")
			st, err := a.privacy.Status(ctx, privacy.Ref{Org: org, ID: bobID})
			require.NoError(t, err)
			require.Equal(t, privacy.StateActive, st.State, "privacy's transition rolled back")
			u, err := a.store.User(ctx, org, bobID)
			require.NoError(t, err)
			require.Equal(t, userActive, u.State)
			bob.call("GET", "/orgs/"+org+"/me", nil, http.StatusOK)

			sub, err := a.deleteAccount(ctx, org, bobID, "user:admin", "test")
			require.NoError(t, err, "a retry succeeds")
			require.Equal(t, privacy.StateDeletionRequested, sub.State)
			st, err = a.privacy.Status(ctx, privacy.Ref{Org: org, ID: bobID})
			require.NoError(t, err)
			require.Equal(t, privacy.StateDeletionRequested, st.State)
			u, err = a.store.User(ctx, org, bobID)
			require.NoError(t, err)
			require.Equal(t, userDeleted, u.State)
			bob.call("GET", "/orgs/"+org+"/me", nil, http.StatusUnauthorized)

			// The relay seals the one entry; the failed attempt left none.
			target := "subject:" + bobID
			require.Eventually(t, func() bool {
				return deletionEntries(t, a, org, target) == 1
			}, 10*time.Second, 10*time.Millisecond)
			st2, err := a.auditStore.(auditlog.Outbox).OutboxStatus(ctx)
			require.NoError(t, err)
			require.True(t, st2.Drained())
			require.Equal(t, 1, deletionEntries(t, a, org, target))
		})
	}
}

// deletionEntries counts org's deletion requests of target in the chain.
func deletionEntries(t *testing.T, a *app, org, target string) int {
	t.Helper()
	n := 0
	err := a.auditStore.Scan(context.Background(), auditlog.ChainFor(org), 0, func(e *auditlog.Entry) error {
		if e.Action == privacy.ActionDeletionRequested && e.Target == target {
			n++
		}
		return nil
	})
	require.NoError(t, err)
	return n
}
