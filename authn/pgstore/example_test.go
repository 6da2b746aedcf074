package pgstore_test

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rampart-sdk/rampart/authn"
	"github.com/rampart-sdk/rampart/authn/pgstore"
)

// Offboarding in one transaction: the host disables the user and authn
// revokes their sessions and API key; if any step fails, none happened.
func ExampleStore_WithTx() {
	ctx := context.Background()
	var pool *pgxpool.Pool  // the host's pool, on which pgstore.Migrate has run
	var pepper authn.Pepper // the API keys' pepper, from the host's secrets
	store, err := pgstore.New(pool)
	if err != nil {
		return // a nil pool or an option out of range (authn.ErrInvalidConfig)
	}
	org, userID, keyID := "org_1", "user_1", "AAAAAAAAAAA1"

	_ = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE users SET disabled = true WHERE org_id = $1 AND id = $2`, org, userID); err != nil {
			return err
		}
		bound := store.WithTx(tx) // every operation below runs in tx
		sessions, err := authn.NewSessions(bound)
		if err != nil {
			return err
		}
		if _, err := sessions.RevokeAll(ctx, org, userID); err != nil {
			return err
		}
		keys, err := authn.NewAPIKeys(bound, "atl_live", pepper)
		if err != nil {
			return err
		}
		return keys.Revoke(ctx, org, keyID)
	})
}
