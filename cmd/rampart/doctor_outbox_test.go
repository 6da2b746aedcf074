package main

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The doctor fails when an audit outbox entry has waited longer than
// --outbox-max-age (no relay running), and passes when none has.
func TestDoctorOutboxAge(t *testing.T) {
	t.Parallel()
	db, args := healthyDeployment(t)
	const name = "audit outbox: no entry waits longer than 1ms"
	code, checks := doctorJSON(t, append(args, "--outbox-max-age", "1ms")...)
	require.Equal(t, exitOK, code)
	require.True(t, checks[name].OK)
	require.Equal(t, "0 waiting", checks[name].Detail)

	_, err := db.Pool.Exec(context.Background(), `INSERT INTO auditlog_outbox (org, at, actor, action, schema_version, target, ip, user_agent, request_id, payload)
		VALUES ('acme', now(), 'user:1', 'invoice.paid', 1, 'invoice:1', '', '', '', '{}')`)
	require.NoError(t, err)
	time.Sleep(5 * time.Millisecond)
	code, checks = doctorJSON(t, append(args, "--outbox-max-age", "1ms")...)
	require.Equal(t, exitFindings, code)
	require.False(t, checks[name].OK)
	require.Contains(t, checks[name].Detail, "1 waiting, the oldest for ")
	require.Contains(t, checks[name].Fix, "RunOutbox")

	// Within the default of a minute: a pass.
	code, checks = doctorJSON(t, args...)
	require.Equal(t, exitOK, code)
	require.True(t, checks["audit outbox: no entry waits longer than 1m0s"].OK)
}
