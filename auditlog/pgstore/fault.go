package pgstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/rampart-sdk/rampart/auditlog"
)

// fenceTimeout bounds ending the session of a lost connection.
const fenceTimeout = 15 * time.Second

// classify turns err, the error of an append on pc, into what a Log needs
// to know about the batch (auditlog.ErrConnectionLost):
//
//   - the server refused the batch (an ERROR): the transaction is rolled
//     back; err is returned as it is;
//   - the server ended the session itself (a FATAL, as after
//     pg_terminate_backend or a shutdown), or pgx sent nothing, or the
//     connection broke before COMMIT was sent: the transaction is over
//     (stored or never), so err is wrapped with ErrConnectionLost;
//   - the connection broke on the client's side (a timeout, a reset) after
//     COMMIT was sent: the server may still be running the session, and
//     commit later. The session is ended (pg_terminate_backend, which the
//     application role may do to its own sessions) and waited for; then
//     the outcome is final (ErrConnectionLost). If that fails, the outcome
//     stays open: ErrOutcomeUnknown.
//
// Without this, a Log reading the store right after a client-side timeout
// could find the batch missing, seal it again, and store it twice once the
// old session committed after all.
func (s *store) classify(ctx context.Context, pc *pgconn.PgConn, err error, commitSent bool) error {
	var pe *pgconn.PgError
	switch {
	case errors.As(err, &pe) && pe.Severity != "FATAL" && pe.Severity != "PANIC":
		return err
	case errors.As(err, &pe), pgconn.SafeToRetry(err), pc == nil:
		return fmt.Errorf("%w: %w", auditlog.ErrConnectionLost, err)
	case !pc.IsClosed():
		return err
	case !commitSent:
		return fmt.Errorf("%w: %w", auditlog.ErrConnectionLost, err)
	}
	if ferr := s.fence(ctx, pc.PID()); ferr != nil {
		return fmt.Errorf("%w: %w (ending the session of the lost connection: %w)", auditlog.ErrOutcomeUnknown, err, ferr)
	}
	return fmt.Errorf("%w: %w", auditlog.ErrConnectionLost, err)
}

var errSessionLives = errors.New("the session is still running")

// fence ends backend pid, the session of a connection this store lost, and
// waits until it is gone, so that it cannot commit anything afterwards. It
// runs at once after the loss, so the PID has not been given to another
// session in between (the operating system hands PIDs out in turn).
// PostgreSQL lets a role end its own sessions, so the application role
// needs no extra privilege; it never ends another role's.
func (s *store) fence(ctx context.Context, pid uint32) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fenceTimeout)
	defer cancel()
	// false (with a warning) if it is gone already, or was not ours to end.
	var ended bool
	if err := s.pool.QueryRow(ctx, `SELECT pg_terminate_backend($1, 10000)`, int64(pid)).Scan(&ended); err != nil {
		return err
	}
	var alive bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = $1)`, int64(pid)).Scan(&alive); err != nil {
		return err
	}
	if alive {
		return errSessionLives
	}
	return nil
}
