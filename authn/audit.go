package authn

import "context"

// Recorder is rampart's audit seam. authn, mfa, rbac, privacy, compliance
// and compliance/nec1099 each declare this same method (a core package
// imports no sibling), so one *auditlog.Log, or one adapter of a host's own
// trail, records for all of them. org "" is the global chain; actor is
// "user:<id>", "apikey:<id>" or "system:<source>"; target is "<type>:<id>"
// or "". *auditlog.Log refuses an unregistered action and a malformed actor
// or target, so arguments passed in the wrong order fail instead of being
// recorded.
//
// authn records the login throttle's lockouts (ActionLoginThrottled).
type Recorder interface {
	Record(ctx context.Context, org, actor, action, target string, payload map[string]any) error
}

// WithRecorder sends authn's audit entries to r (NewPasswordLogin,
// NewMagicLinks). Register AuditActions with the audit log at startup. An
// entry that cannot be recorded fails the attempt that caused it with the
// recorder's error (the host answers 503): nothing authn audits happens
// unaudited. A nil r is an error; to record nothing, leave the option out.
func WithRecorder(r Recorder) LoginOption {
	return loginOpt(func(c *config) {
		if r == nil {
			c.invalid("WithRecorder", "nil recorder")
			return
		}
		c.recorder = r
	})
}

// Audit actions authn records through its Recorder.
const (
	// ActionLoginThrottled: a login attempt filled a throttle bucket, so
	// the next ones are refused until the window ends. It is recorded once
	// per bucket and window (not for every refused attempt, which an
	// attacker could use to flood the log), in the organisation of the
	// account, when the host passed one (Account.Org of a found account,
	// MagicLinkRequest.Org). The actor is "system:authn/throttle" (the
	// client is not authenticated), the target "throttle:" and the
	// bucket's key (which holds the login only as ThrottleLoginKey), and
	// the payload names the scope ("pair", "account", "address",
	// "magic_link_address"), the window and the client's address prefix.
	ActionLoginThrottled = "authn.login.throttled"
)

// AuditActions lists every action authn may record, for registration.
func AuditActions() []string { return []string{ActionLoginThrottled} }
