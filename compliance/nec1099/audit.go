package nec1099

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
// nec1099 records each generation of filing records.
type Recorder interface {
	Record(ctx context.Context, org, actor, action, target string, payload map[string]any) error
}

// ActionFilingsGenerated is the audit action this package records: 1099
// filing records were generated or reissued (tax IDs were decrypted for
// it). The name predates the package and is kept, so existing audit logs
// stay readable.
const ActionFilingsGenerated = "compliance.filings.generated"

// AuditActions lists every action name this package records, for
// registration with the audit log at startup.
func AuditActions() []string { return []string{ActionFilingsGenerated} }
