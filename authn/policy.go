package authn

import (
	"context"
	"fmt"
)

// Authentication methods a session records (NewSession.Method,
// Session.Method, Identity.AuthMethod). Only AuthSSO survives an
// organisation's SSO requirement; a host that adds its own methods names
// them itself, and they are refused there like these.
const (
	AuthPassword  = "password"
	AuthMagicLink = "magic_link"
	AuthSSO       = "sso"
)

// PasswordLogin checks password logins against organisation policy and the
// login throttle. When an organisation requires single sign-on, its
// members' password logins fail with ErrPasswordLoginDisabled even with the
// right password, so a leaked or phished password is useless there. The
// SSO flow itself stays the host's. Attempts are throttled per account, per
// client address and per pair of both, across instances (ThrottleLimits).
type PasswordLogin struct {
	passwords *Passwords
	store     LoginStore
	cfg       config
}

// NewPasswordLogin combines a password hasher with the policy and throttle
// store (any Store). Options: WithThrottleLimits, WithRecorder, WithClock.
func NewPasswordLogin(passwords *Passwords, store LoginStore, opts ...PasswordLoginOption) (*PasswordLogin, error) {
	if passwords == nil || store == nil {
		return nil, fmt.Errorf("%w: password login: nil passwords or store", ErrInvalidArgument)
	}
	cfg, err := configure("password login", opts, PasswordLoginOption.applyPasswordLogin)
	if err != nil {
		return nil, err
	}
	return &PasswordLogin{passwords: passwords, store: store, cfg: cfg}, nil
}

// Account is what the host knows about the user trying to log in.
type Account struct {
	// Found is false when no user has the submitted identifier; the check
	// then costs the same as a wrong password and fails the same way.
	Found        bool
	Org          string // the user's organisation
	PasswordHash string // the stored hash ("" if the user has none)
}

// Check verifies password for acct, submitted by client c. In order:
//
//   - ErrPasswordLoginDisabled (which matches ErrSSORequired) if the
//     account's organisation requires SSO. The refusal comes before any
//     hashing and counts no attempt: it reveals that the account's
//     organisation uses SSO, which its login page (redirecting to the
//     identity provider) reveals anyway.
//   - a *ThrottledError (ErrThrottled) if a throttle bucket of the attempt
//     is full: the password is not checked. Otherwise the attempt is
//     counted, before hashing, so concurrent guesses on any number of
//     instances cannot exceed the limits.
//   - ErrPasswordMismatch for a wrong password, an unknown user or a user
//     without a password, and needsRehash as Passwords.Verify reports it.
//     A successful login empties the (login, address) bucket.
//
// Every call reads one policy, an unknown user's included (the policy of
// the empty organisation, never enforced), and takes the throttle the same
// way, so store round trips that only known users paid cannot tell them
// apart by timing.
func (l *PasswordLogin) Check(ctx context.Context, c Client, acct Account, password string) (needsRehash bool, err error) {
	if err := checkLength(password); err != nil {
		return false, err
	}
	rules, err := passwordRules(l.cfg.throttle, c)
	if err != nil {
		return false, err
	}
	org := ""
	if acct.Found {
		org = acct.Org
	}
	pol, err := l.store.OrgPolicy(ctx, org)
	if err != nil {
		return false, fmt.Errorf("authn: password login: policy: %w", err)
	}
	if org != "" && pol.PasswordLoginDisabled {
		return false, ErrPasswordLoginDisabled
	}
	if err := take(ctx, l.store, &l.cfg, rules, org, c); err != nil {
		return false, err
	}
	if !acct.Found || acct.PasswordHash == "" {
		return false, l.passwords.VerifyUnknown(ctx, password)
	}
	needsRehash, err = l.passwords.Verify(ctx, password, acct.PasswordHash)
	if err != nil {
		return false, err
	}
	if c.Addr != "" {
		// The owner got in: their earlier typos no longer count. The
		// account bucket is left alone, so each login of the owner does
		// not hand a distributed guesser a fresh budget.
		if _, err := l.store.DeleteThrottle(ctx, rules[0].Key); err != nil {
			return false, fmt.Errorf("authn: password login: throttle: %w", err)
		}
	}
	return needsRehash, nil
}

// RequireSSO sets whether org requires single sign-on: every login path
// but SSO is then refused for its members (OrgPolicy.PasswordLoginDisabled),
// and its sessions created by other methods end at their next request.
func RequireSSO(ctx context.Context, store PolicyStore, org string, required bool) error {
	p, err := store.OrgPolicy(ctx, org)
	if err != nil {
		return fmt.Errorf("authn: require sso: %w", err)
	}
	p.PasswordLoginDisabled = required
	if err := store.SetOrgPolicy(ctx, org, p); err != nil {
		return fmt.Errorf("authn: require sso: %w", err)
	}
	return nil
}
