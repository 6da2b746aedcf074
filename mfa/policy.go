package mfa

import (
	"context"
	"errors"
	"fmt"
)

// Status is what a settings page shows about an account's MFA.
type Status struct {
	Enrolled          bool
	Pending           bool
	RecoveryCodesLeft int
}

// Status reports acct's enrolment and how many recovery codes are left.
func (m *Manager) Status(ctx context.Context, acct Account) (Status, error) {
	e, err := m.store.Enrollment(ctx, acct.Org, acct.User)
	if errors.Is(err, ErrNotEnrolled) {
		return Status{}, nil
	}
	if err != nil {
		return Status{}, err
	}
	if !e.Confirmed {
		return Status{Pending: true}, nil
	}
	n, err := m.store.RecoveryCodesLeft(ctx, acct.Org, acct.User)
	if err != nil {
		return Status{}, err
	}
	return Status{Enrolled: true, RecoveryCodesLeft: n}, nil
}

// Required reports whether acct must have MFA: always for staff, affiliates
// and unknown kinds; for members when their organisation requires it.
func (m *Manager) Required(ctx context.Context, acct Account) (bool, error) {
	if acct.Kind != KindMember {
		return true, nil
	}
	return m.store.OrgPolicy(ctx, acct.Org)
}

// CheckLogin runs after the first factor. It reports challenge=true when the
// account is enrolled (ask for a code before completing the login), and
// ErrEnrollmentRequired when policy requires MFA the account lacks (route the
// user to enrolment, granting nothing else).
func (m *Manager) CheckLogin(ctx context.Context, acct Account) (challenge bool, err error) {
	st, err := m.Status(ctx, acct)
	if err != nil {
		return false, err
	}
	if st.Enrolled {
		return true, nil
	}
	req, err := m.Required(ctx, acct)
	if err != nil {
		return false, err
	}
	if req {
		why := "organisation policy"
		if acct.Kind != KindMember {
			why = fmt.Sprintf("account kind %q", string(acct.Kind))
		}
		return false, fmt.Errorf("%w: %s", ErrEnrollmentRequired, why)
	}
	return false, nil
}

// SetOrgPolicy sets whether every member of org must enrol; audited.
func (m *Manager) SetOrgPolicy(ctx context.Context, actor, org string, requireAll bool) error {
	if m.recorder == nil {
		return ErrNoRecorder
	}
	if err := m.record(ctx, org, actor, ActionPolicyChanged, "org:"+org, map[string]any{"require_all_members": requireAll}); err != nil {
		return err
	}
	return m.store.SetOrgPolicy(ctx, org, requireAll)
}
