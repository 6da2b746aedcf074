package pgstore_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/auditlog"
)

// Incremental verification on PostgreSQL: a DBA who rewrites the stored
// tree under the last verified checkpoint (as recomputing history must) is
// caught by it, and an entry edited after it is caught when read.
func TestVerifyFromOnPostgres(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		stmt   string
		reason auditlog.Reason
	}{
		// Entry 63 stores the level-6 hash (offset 32*6) covering entries
		// 0-63, part of the tree at size 100.
		{"tree under the checkpoint", `UPDATE auditlog_entries SET tree = overlay(tree placing '\xff'::bytea from 193 for 1) WHERE chain = 'org:acme' AND seq = 63`, auditlog.ReasonCheckpointMismatch},
		{"entry after the checkpoint", `UPDATE auditlog_entries SET target = 'doc:forged' WHERE chain = 'org:acme' AND seq = 105`, auditlog.ReasonHashMismatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			db, s := newDB(t)
			l := seed(t, s, 100)
			res, err := auditlog.VerifyFrom(ctx, s, "org:acme", auditlog.Checkpoint{}, auditlog.VerifyOptions{})
			require.NoError(t, err)
			last := res.Checkpoint()
			for i := range 10 {
				require.NoError(t, l.Record(ctx, "acme", "user:u", "test.created", fmt.Sprintf("doc:%d", i), nil))
			}
			res, err = auditlog.VerifyFrom(ctx, s, "org:acme", last, auditlog.VerifyOptions{})
			require.NoError(t, err)
			require.EqualValues(t, 10, res.Checked)
			superuser(t, db, tc.stmt)
			_, err = auditlog.VerifyFrom(ctx, s, "org:acme", last, auditlog.VerifyOptions{})
			var ve *auditlog.VerifyError
			require.ErrorAs(t, err, &ve)
			require.Equal(t, tc.reason, ve.Reason, "%v", err)
		})
	}
}
