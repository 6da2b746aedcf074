package nec1099

import "context"

// Recorder appends an audit entry. *auditlog.Log satisfies it (rampart's
// contract 1); a host without auditlog can adapt its own trail.
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
