package monitor

import "errors"

// Sentinel errors. Every error this package returns wraps one of these (or a
// store's or a host's error) so callers can branch with errors.Is.
var (
	// ErrUnknownJob reports a heartbeat for a job that was never registered:
	// a typo in a job name must not create a job nobody watches.
	ErrUnknownJob = errors.New("monitor: unknown job")
	// ErrInvalidJob reports a job registration without a name or period, or
	// with a ping URL that is not an http(s) URL.
	ErrInvalidJob = errors.New("monitor: invalid job")
	// ErrInvalidConfig reports an option passed to New outside its allowed
	// range; the message names the option and the range.
	ErrInvalidConfig = errors.New("monitor: invalid configuration")
)
