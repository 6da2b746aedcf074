package authn

import (
	"context"
	"fmt"
)

// PasswordLogin checks password logins against organisation policy: when an
// organisation requires single sign-on, its members' password logins fail
// with ErrPasswordLoginDisabled even with the right password, so a leaked
// or phished password is useless there. The SSO flow itself stays the
// host's.
type PasswordLogin struct {
	passwords *Passwords
	policies  PolicyStore
}

// NewPasswordLogin combines a password hasher with the policy store.
func NewPasswordLogin(passwords *Passwords, policies PolicyStore) (*PasswordLogin, error) {
	if passwords == nil || policies == nil {
		return nil, fmt.Errorf("%w: password login: nil passwords or policies", ErrInvalidArgument)
	}
	return &PasswordLogin{passwords: passwords, policies: policies}, nil
}

// Account is what the host knows about the user trying to log in.
type Account struct {
	// Found is false when no user has the submitted identifier; the check
	// then costs the same as a wrong password and fails the same way.
	Found        bool
	Org          string // the user's organisation
	PasswordHash string // the stored hash ("" if the user has none)
}

// Check verifies password for acct. It returns ErrPasswordLoginDisabled if
// the account's organisation requires SSO, ErrPasswordMismatch for a wrong
// password, an unknown user or a user without a password, and needsRehash as
// Passwords.Verify does. The SSO refusal comes before any hashing: it
// reveals that the account's organisation uses SSO, which its login page
// (redirecting to the identity provider) reveals anyway.
//
// Every call reads one policy, an unknown user's included (the policy of
// the empty organisation, never enforced), so a store round trip that only
// known users paid cannot tell them apart by timing.
func (l *PasswordLogin) Check(ctx context.Context, acct Account, password string) (needsRehash bool, err error) {
	org := ""
	if acct.Found {
		org = acct.Org
	}
	pol, err := l.policies.OrgPolicy(ctx, org)
	if err != nil {
		return false, fmt.Errorf("authn: password login: policy: %w", err)
	}
	if org != "" && pol.PasswordLoginDisabled {
		return false, ErrPasswordLoginDisabled
	}
	if !acct.Found || acct.PasswordHash == "" {
		return false, l.passwords.VerifyUnknown(ctx, password)
	}
	return l.passwords.Verify(ctx, password, acct.PasswordHash)
}

// RequireSSO sets whether org requires single sign-on (disabling password
// login for its members).
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
