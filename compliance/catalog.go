package compliance

// Evidence slots the shipped catalogs use. The host fills each with a Check
// that reaches the package able to prove it (through a small interface or a
// closure), so compliance imports none of them.
const (
	// SlotAuditChainVerifies: the audit log's hash chain verifies end to end.
	SlotAuditChainVerifies = "auditlog.chain-verifies"
	// SlotKeyringGuardrail: every PII column is encrypted under a declared
	// key and the keyring guardrail passes.
	SlotKeyringGuardrail = "keyring.guardrail-passes"
	// SlotRoutesDeclarePermission: every HTTP route was registered with a
	// permission (no unguarded route).
	SlotRoutesDeclarePermission = "rbac.routes-declare-permission"
	// SlotStaffMFA: MFA is enforced for every staff account.
	SlotStaffMFA = "mfa.enforced-for-staff"
	// SlotErasureSweeper: the erasure sweeper job is healthy (its heartbeat
	// is not overdue) and no data-subject request is past its deadline.
	SlotErasureSweeper = "privacy.erasure-sweeper-healthy"
	// SlotRecordsOfProcessing: records of processing activities exist
	// (purpose, lawful basis, categories, retention per processing).
	SlotRecordsOfProcessing = "privacy.records-of-processing"
	// SlotConsentGate: processing that relies on consent is gated on a
	// recorded, withdrawable consent.
	SlotConsentGate = "privacy.consent-gate"
	// SlotRetentionPolicies: every data category has a retention policy.
	SlotRetentionPolicies = "privacy.retention-policies-set"
	// SlotJobsHealthy: no scheduled job is overdue (dead-man switch); a
	// Monitor provides it with Monitor.Check.
	SlotJobsHealthy = "compliance.jobs-healthy"
	// SlotTenantIsolation: the database keeps each organisation's rows
	// apart: every organisation-scoped table is under row-level security
	// keyed on the request's organisation, and the role the application
	// serves as is bound by it (no superuser, no BYPASSRLS, owner of none
	// of them). tenant/pgstore's Check provides it on PostgreSQL; a host
	// whose stores are not PostgreSQL says how it partitions instead.
	SlotTenantIsolation = "tenant.row-level-security"
)

func check(slot, desc string) Evidence {
	return Evidence{Kind: EvidenceCheck, Slot: slot, Description: desc}
}

func code(ref, desc string) Evidence {
	return Evidence{Kind: EvidenceCode, Ref: ref, Description: desc}
}

const modulePath = "github.com/rampart-sdk/rampart/"

// GDPRCatalog returns the GDPR controls rampart can prove: Articles 6, 7,
// 12-17, 20, 25, 30, 32 and 33, each wired to check slots. Every control is
// required. The returned slice is fresh; the host may append controls or
// evidence of its own (its privacy notice, its breach procedure) before
// building the matrix.
func GDPRCatalog() []Control {
	c := func(id, ref, title string, ev ...Evidence) Control {
		return Control{ID: id, Framework: "GDPR", Reference: ref, Title: title, Required: true, Evidence: ev}
	}
	return []Control{
		c("gdpr-art-6", "GDPR Art. 6", "Lawfulness of processing: each processing has a recorded lawful basis",
			check(SlotRecordsOfProcessing, "every processing activity records its lawful basis"),
			check(SlotConsentGate, "processing based on consent (Art. 6(1)(a)) is gated on it")),
		c("gdpr-art-7", "GDPR Art. 7", "Conditions for consent: consent is demonstrable and withdrawable",
			check(SlotConsentGate, "consent is recorded and checked before processing; withdrawal stops it"),
			check(SlotAuditChainVerifies, "consent grants and withdrawals are in a verifiable audit chain (Art. 7(1))")),
		c("gdpr-art-12", "GDPR Art. 12(3)", "Requests answered without undue delay, within one month",
			check(SlotErasureSweeper, "the subject-request queue has no request past its deadline")),
		c("gdpr-art-13", "GDPR Art. 13", "Information provided when data is collected from the subject",
			check(SlotRecordsOfProcessing, "purposes, lawful bases, recipients and retention are recorded for the notice")),
		c("gdpr-art-14", "GDPR Art. 14", "Information provided when data is not obtained from the subject",
			check(SlotRecordsOfProcessing, "sources and categories of indirectly obtained data are recorded")),
		c("gdpr-art-15", "GDPR Art. 15", "Right of access by the data subject",
			check(SlotErasureSweeper, "access requests are answered before their deadline"),
			code(modulePath+"privacy", "subject export assembles every record held about the subject")),
		c("gdpr-art-16", "GDPR Art. 16", "Right to rectification",
			check(SlotErasureSweeper, "rectification requests are answered before their deadline"),
			check(SlotAuditChainVerifies, "changes to personal data are recorded in the audit chain")),
		c("gdpr-art-17", "GDPR Art. 17", "Right to erasure ('right to be forgotten')",
			check(SlotErasureSweeper, "the erasure sweeper runs and no erasure request is overdue"),
			check(SlotKeyringGuardrail, "erasure crypto-shreds per-subject keys, so copies become unreadable")),
		c("gdpr-art-20", "GDPR Art. 20", "Right to data portability in a machine-readable format",
			check(SlotErasureSweeper, "portability requests are answered before their deadline"),
			code(modulePath+"privacy", "subject export produces structured JSON")),
		c("gdpr-art-25", "GDPR Art. 25", "Data protection by design and by default",
			check(SlotKeyringGuardrail, "personal data is encrypted per column by default"),
			check(SlotRoutesDeclarePermission, "no route is reachable without a declared permission"),
			check(SlotRetentionPolicies, "data is kept no longer than its retention policy (Art. 25(2))"),
			check(SlotTenantIsolation, "by default a query sees only its organisation's rows: the database filters them, a forgotten WHERE cannot widen it")),
		c("gdpr-art-30", "GDPR Art. 30", "Records of processing activities",
			check(SlotRecordsOfProcessing, "records of processing activities are present and complete")),
		c("gdpr-art-32-1-a", "GDPR Art. 32(1)(a)", "Pseudonymisation and encryption of personal data",
			check(SlotKeyringGuardrail, "the keyring guardrail passes: PII columns are sealed under declared keys")),
		c("gdpr-art-32-1-b", "GDPR Art. 32(1)(b)", "Ongoing confidentiality and integrity of processing systems",
			check(SlotRoutesDeclarePermission, "every route declares the permission it requires"),
			check(SlotStaffMFA, "staff accounts cannot act without multi-factor authentication"),
			check(SlotAuditChainVerifies, "the audit log's hash chain verifies"),
			check(SlotTenantIsolation, "organisation-scoped tables are under row-level security the application role cannot bypass")),
		c("gdpr-art-32-1-d", "GDPR Art. 32(1)(d)", "Regularly testing and evaluating the effectiveness of measures",
			check(SlotJobsHealthy, "every scheduled control job reported success on time (dead-man switch)")),
		c("gdpr-art-33", "GDPR Art. 33", "Notification of a personal data breach; breaches documented (Art. 33(5))",
			check(SlotAuditChainVerifies, "the tamper-evident audit trail needed to scope and document a breach verifies"),
			check(SlotJobsHealthy, "detective jobs are running, so a breach can be noticed within 72 hours")),
	}
}

// CCPACatalog returns the CCPA (as amended by the CPRA; Cal. Civ. Code
// §1798.100 et seq.) mapping onto the same evidence slots. Every control is
// required.
func CCPACatalog() []Control {
	c := func(id, ref, title string, ev ...Evidence) Control {
		return Control{ID: id, Framework: "CCPA", Reference: ref, Title: title, Required: true, Evidence: ev}
	}
	return []Control{
		c("ccpa-1798.100", "Cal. Civ. Code §1798.100", "Notice at collection; purposes and retention disclosed",
			check(SlotRecordsOfProcessing, "categories, purposes and retention periods are recorded"),
			check(SlotRetentionPolicies, "no category is kept longer than disclosed (§1798.100(a)(3))")),
		c("ccpa-1798.105", "Cal. Civ. Code §1798.105", "Right to delete",
			check(SlotErasureSweeper, "deletion requests are executed and none is overdue")),
		c("ccpa-1798.106", "Cal. Civ. Code §1798.106", "Right to correct inaccurate personal information",
			check(SlotErasureSweeper, "correction requests are answered before their deadline"),
			check(SlotAuditChainVerifies, "corrections are recorded in the audit chain")),
		c("ccpa-1798.110", "Cal. Civ. Code §1798.110", "Right to know what personal information is collected",
			check(SlotRecordsOfProcessing, "categories and sources are recorded"),
			code(modulePath+"privacy", "subject export lists the specific pieces of information held")),
		c("ccpa-1798.120", "Cal. Civ. Code §1798.120", "Right to opt out of sale or sharing",
			check(SlotConsentGate, "sharing is gated on the consumer's recorded choice")),
		c("ccpa-1798.130", "Cal. Civ. Code §1798.130", "Requests answered within 45 days",
			check(SlotErasureSweeper, "no consumer request is past its 45-day deadline")),
		c("ccpa-1798.150", "Cal. Civ. Code §1798.150", "Reasonable security procedures and practices",
			check(SlotKeyringGuardrail, "personal information is encrypted per column"),
			check(SlotRoutesDeclarePermission, "every route declares the permission it requires"),
			check(SlotStaffMFA, "staff accounts require multi-factor authentication"),
			check(SlotAuditChainVerifies, "the audit log's hash chain verifies"),
			check(SlotJobsHealthy, "scheduled security jobs are running"),
			check(SlotTenantIsolation, "one business's consumers' records are kept from another's by the database, not only the route")),
	}
}
