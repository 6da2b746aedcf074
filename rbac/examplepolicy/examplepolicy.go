// Package examplepolicy is the policy of rampart's example SaaS app: six
// roles and sixty-four permissions of a payments product. It is an example a
// host copies and edits, NOT a default of the rbac library, which ships no
// permissions or roles of its own.
//
// The roles form one ladder, each a strict superset of the one below:
//
//	viewer ⊂ support ⊂ financial_admin ⊂ admin ⊂ owner
//
// and engineer carries everything owner has plus the technical permissions
// (deployments, infrastructure logs, database migrations, feature flags).
package examplepolicy

import "github.com/rampart-sdk/rampart/rbac"

// Permissions are the example app's permissions, as fields so call sites
// read as rbac routes should: r.Handle(pattern, ex.Perm.PayoutsApprove, h).
type Permissions struct {
	// viewer
	OrgView, MembersView, CustomersView, InvoicesView, PaymentsView, PayoutsView,
	SubscriptionsView, ProductsView, DisputesView, ReportsView rbac.Permission
	// support
	TicketsView, TicketsReply, TicketsAssign, CustomersUpdateContact, CustomersNotesWrite,
	RefundsRequest, SubscriptionsPause, InvoicesResend, PaymentsRetry, AuditViewOwn rbac.Permission
	// financial_admin
	InvoicesCreate, InvoicesVoid, RefundsApprove, PayoutsApprove, PayoutsSchedule, PaymentsCapture,
	DisputesRespond, ReportsExport, TaxView, TaxUpdate, CreditNotesIssue, BankAccountsManage rbac.Permission
	// admin
	MembersInvite, MembersRemove, MembersUpdateRole, TeamsManage, SettingsUpdate, WebhooksManage,
	IntegrationsManage, APIKeysCreate, APIKeysRevoke, AuditView, ProductsManage, CustomersDelete,
	DataExport rbac.Permission
	// owner
	OrgDelete, OrgTransfer, BillingManage, SSOConfigure, MFAEnforce, DomainsVerify,
	RetentionConfigure, AuditExport, AdminsManage rbac.Permission
	// engineer (technical)
	InfraDeploy, InfraLogsView, InfraMetricsView, DBMigrate, DBConsole, FeatureFlagsManage,
	JobsView, JobsRun, CacheFlush, KeysRotate rbac.Permission
}

// Roles are the example app's roles.
type Roles struct {
	Viewer, Support, FinancialAdmin, Admin, Owner, Engineer rbac.Role
}

// Example is the built policy with its permission and role handles.
type Example struct {
	Policy *rbac.Policy
	Perm   Permissions
	Role   Roles
}

// technical returns the permissions engineer has beyond owner.
func (e *Example) technical() []rbac.Permission {
	p := e.Perm
	return []rbac.Permission{p.InfraDeploy, p.InfraLogsView, p.InfraMetricsView, p.DBMigrate, p.DBConsole,
		p.FeatureFlagsManage, p.JobsView, p.JobsRun, p.CacheFlush, p.KeysRotate}
}

// ladder returns the five laddered roles, lowest first.
func (e *Example) ladder() []rbac.Role {
	r := e.Role
	return []rbac.Role{r.Viewer, r.Support, r.FinancialAdmin, r.Admin, r.Owner}
}

// New declares and builds the example policy.
func New() (*Example, error) {
	reg := rbac.NewRegistry()
	var p Permissions
	d := reg.Permission

	p.OrgView = d("org.view", "See the organisation's profile and plan")
	p.MembersView = d("members.view", "List the organisation's members and their roles")
	p.CustomersView = d("customers.view", "See customer records")
	p.InvoicesView = d("invoices.view", "See invoices")
	p.PaymentsView = d("payments.view", "See payments")
	p.PayoutsView = d("payouts.view", "See payouts to the organisation's bank account")
	p.SubscriptionsView = d("subscriptions.view", "See subscriptions")
	p.ProductsView = d("products.view", "See the product catalogue")
	p.DisputesView = d("disputes.view", "See chargebacks and disputes")
	p.ReportsView = d("reports.view", "See dashboards and reports")

	p.TicketsView = d("tickets.view", "See support tickets")
	p.TicketsReply = d("tickets.reply", "Reply to support tickets")
	p.TicketsAssign = d("tickets.assign", "Assign support tickets")
	p.CustomersUpdateContact = d("customers.update_contact", "Update a customer's contact details")
	p.CustomersNotesWrite = d("customers.notes.write", "Write internal notes on a customer")
	p.RefundsRequest = d("refunds.request", "Request a refund for approval")
	p.SubscriptionsPause = d("subscriptions.pause", "Pause or resume a subscription")
	p.InvoicesResend = d("invoices.resend", "Resend an invoice to the customer")
	p.PaymentsRetry = d("payments.retry", "Retry a failed payment")
	p.AuditViewOwn = d("audit.view_own", "See one's own entries in the audit log")

	p.InvoicesCreate = d("invoices.create", "Create and send invoices")
	p.InvoicesVoid = d("invoices.void", "Void an invoice")
	p.RefundsApprove = d("refunds.approve", "Approve and issue refunds")
	p.PayoutsApprove = d("payouts.approve", "Approve a pending payout")
	p.PayoutsSchedule = d("payouts.schedule", "Change the payout schedule")
	p.PaymentsCapture = d("payments.capture", "Capture an authorised payment")
	p.DisputesRespond = d("disputes.respond", "Submit evidence for a dispute")
	p.ReportsExport = d("reports.export", "Export financial reports")
	p.TaxView = d("tax.view", "See tax settings and tax forms")
	p.TaxUpdate = d("tax.update", "Change tax settings and tax IDs")
	p.CreditNotesIssue = d("credit_notes.issue", "Issue credit notes")
	p.BankAccountsManage = d("bank_accounts.manage", "Add or change payout bank accounts")

	p.MembersInvite = d("members.invite", "Invite members")
	p.MembersRemove = d("members.remove", "Remove non-admin members")
	p.MembersUpdateRole = d("members.update_role", "Change a member's role up to admin")
	p.TeamsManage = d("teams.manage", "Create and edit teams")
	p.SettingsUpdate = d("settings.update", "Change organisation settings")
	p.WebhooksManage = d("webhooks.manage", "Create and rotate webhook endpoints")
	p.IntegrationsManage = d("integrations.manage", "Connect and disconnect integrations")
	p.APIKeysCreate = d("api_keys.create", "Create API keys")
	p.APIKeysRevoke = d("api_keys.revoke", "Revoke API keys")
	p.AuditView = d("audit.view", "See the organisation's audit log")
	p.ProductsManage = d("products.manage", "Edit the product catalogue and prices")
	p.CustomersDelete = d("customers.delete", "Delete (erase) a customer")
	p.DataExport = d("data.export", "Export the organisation's data")

	p.OrgDelete = d("org.delete", "Delete the organisation")
	p.OrgTransfer = d("org.transfer", "Transfer ownership of the organisation")
	p.BillingManage = d("billing.manage", "Change the plan and payment method")
	p.SSOConfigure = d("sso.configure", "Configure single sign-on")
	p.MFAEnforce = d("mfa.enforce", "Require MFA for every member")
	p.DomainsVerify = d("domains.verify", "Verify email domains")
	p.RetentionConfigure = d("retention.configure", "Change data retention periods")
	p.AuditExport = d("audit.export", "Export and verify the audit log")
	p.AdminsManage = d("admins.manage", "Promote, demote and remove admins")

	p.InfraDeploy = d("infra.deploy", "Deploy the application")
	p.InfraLogsView = d("infra.logs.view", "Read infrastructure logs")
	p.InfraMetricsView = d("infra.metrics.view", "Read infrastructure metrics")
	p.DBMigrate = d("db.migrate", "Run database migrations")
	p.DBConsole = d("db.console", "Open a read-only database console")
	p.FeatureFlagsManage = d("feature_flags.manage", "Toggle feature flags")
	p.JobsView = d("jobs.view", "See scheduled jobs and their heartbeats")
	p.JobsRun = d("jobs.run", "Run a scheduled job now")
	p.CacheFlush = d("cache.flush", "Flush caches")
	p.KeysRotate = d("keys.rotate", "Rotate encryption keys")

	var r Roles
	r.Viewer = reg.Role("viewer", "Read-only access to the organisation").Grants(
		p.OrgView, p.MembersView, p.CustomersView, p.InvoicesView, p.PaymentsView, p.PayoutsView,
		p.SubscriptionsView, p.ProductsView, p.DisputesView, p.ReportsView)
	r.Support = reg.Role("support", "Customer support: viewer plus tickets and customer care").Includes(r.Viewer).Grants(
		p.TicketsView, p.TicketsReply, p.TicketsAssign, p.CustomersUpdateContact, p.CustomersNotesWrite,
		p.RefundsRequest, p.SubscriptionsPause, p.InvoicesResend, p.PaymentsRetry, p.AuditViewOwn)
	r.FinancialAdmin = reg.Role("financial_admin", "Finance: support plus money movement").Includes(r.Support).Grants(
		p.InvoicesCreate, p.InvoicesVoid, p.RefundsApprove, p.PayoutsApprove, p.PayoutsSchedule, p.PaymentsCapture,
		p.DisputesRespond, p.ReportsExport, p.TaxView, p.TaxUpdate, p.CreditNotesIssue, p.BankAccountsManage)
	r.Admin = reg.Role("admin", "Administration: financial admin plus members and settings").Includes(r.FinancialAdmin).Grants(
		p.MembersInvite, p.MembersRemove, p.MembersUpdateRole, p.TeamsManage, p.SettingsUpdate, p.WebhooksManage,
		p.IntegrationsManage, p.APIKeysCreate, p.APIKeysRevoke, p.AuditView, p.ProductsManage, p.CustomersDelete,
		p.DataExport)
	r.Owner = reg.Role("owner", "Ownership: admin plus the organisation itself").Includes(r.Admin).Grants(
		p.OrgDelete, p.OrgTransfer, p.BillingManage, p.SSOConfigure, p.MFAEnforce, p.DomainsVerify,
		p.RetentionConfigure, p.AuditExport, p.AdminsManage)
	r.Engineer = reg.Role("engineer", "Engineering: owner plus technical operations").Includes(r.Owner).Grants(
		p.InfraDeploy, p.InfraLogsView, p.InfraMetricsView, p.DBMigrate, p.DBConsole, p.FeatureFlagsManage,
		p.JobsView, p.JobsRun, p.CacheFlush, p.KeysRotate)

	reg.Ladder(r.Viewer, r.Support, r.FinancialAdmin, r.Admin, r.Owner)
	reg.Ladder(r.Owner, r.Engineer)

	pol, err := reg.Build()
	if err != nil {
		return nil, err
	}
	return &Example{Policy: pol, Perm: p, Role: r}, nil
}
