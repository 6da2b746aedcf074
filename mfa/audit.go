package mfa

// Audit actions mfa records through its Recorder. Register them with the
// audit log at startup (auditlog refuses unregistered actions).
const (
	// ActionEnrolled: a user confirmed a TOTP enrolment.
	ActionEnrolled = "mfa.enrolled"
	// ActionReset: an administrator removed a member's MFA.
	ActionReset = "mfa.reset"
	// ActionPolicyChanged: an organisation's enrolment policy changed.
	ActionPolicyChanged = "mfa.policy.changed"
	// ActionRecoveryCodeUsed: a recovery code replaced a TOTP code.
	ActionRecoveryCodeUsed = "mfa.recovery_code.used"
	// ActionRecoveryCodesRegenerated: all recovery codes were replaced.
	ActionRecoveryCodesRegenerated = "mfa.recovery_codes.regenerated"
)

// AuditActions lists every action mfa may record, for registration.
func AuditActions() []string {
	return []string{ActionEnrolled, ActionReset, ActionPolicyChanged, ActionRecoveryCodeUsed, ActionRecoveryCodesRegenerated}
}
