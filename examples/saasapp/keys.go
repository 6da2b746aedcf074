package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/rampart-sdk/rampart/keyring"
)

// The twelve key scopes. Each protects one kind of personal or secret data,
// so a key that leaks exposes one column, never the database. Scopes are
// disjoint: no key material is shared (keyring.New refuses it).
const (
	scopeUserName       = "users.name"
	scopeUserEmail      = "users.email"
	scopeUserEmailIndex = "users.email.idx"          // blind index: log in by email without storing it in clear
	scopeSubjectKeys    = "subjects.dek"             // wraps per-user data keys (crypto-shredded addresses)
	scopeTaxID          = "tax.tin"                  // payees' tax identification numbers
	scopePayoutBank     = "payouts.bank_account"     // where money goes
	scopeOAuthToken     = "integrations.oauth_token" // third-party access tokens
	scopeSessionPayload = "sessions.payload"         // what the app keeps per session
	scopeLeadPayload    = "leads.payload"            // what visitors type into the lead-capture form
	scopeTOTPSecret     = "mfa.totp_secret"          // authenticator secrets (mfa seals through it)
	scopeAPIKeyPepper   = "apikeys.pepper"           // HMAC key of stored API key hashes (authn)
	scopePseudonym      = "privacy.pseudonym"        // keyed pseudonyms that replace erased users in analytics
)

// keyScopes lists every scope, for generating a registry.
var keyScopes = []string{
	scopeUserName, scopeUserEmail, scopeUserEmailIndex, scopeSubjectKeys, scopeTaxID, scopePayoutBank,
	scopeOAuthToken, scopeSessionPayload, scopeLeadPayload, scopeTOTPSecret, scopeAPIKeyPepper, scopePseudonym,
}

// keyColumns declares which column each scope protects. Sealing or opening a
// column not declared here fails, and the guardrail (keyring.Check, run by
// the compliance report) compares these declarations with the registry and,
// on PostgreSQL, with the key IDs actually stored in each column.
var keyColumns = []keyring.Column{
	{Table: "app_users", Column: "name", Scope: scopeUserName},
	{Table: "app_users", Column: "email", Scope: scopeUserEmail},
	{Table: "app_users", Column: "email_idx", Scope: scopeUserEmailIndex, Kind: keyring.KindBlindIndex},
	{Table: keyring.SubjectKeyTable, Column: keyring.SubjectKeyColumn, Scope: scopeSubjectKeys},
	{Table: "app_users", Column: "tax_id", Scope: scopeTaxID},
	{Table: "app_payouts", Column: "bank_account", Scope: scopePayoutBank},
	{Table: "app_integrations", Column: "token", Scope: scopeOAuthToken},
	{Table: "app_session_data", Column: "payload", Scope: scopeSessionPayload},
	{Table: "app_leads", Column: "payload", Scope: scopeLeadPayload},
	{Table: "mfa_enrollments", Column: "sealed_secret", Scope: scopeTOTPSecret},
	{Table: "authn_api_keys", Column: "hash", Scope: scopeAPIKeyPepper, Kind: keyring.KindBlindIndex},
	{Table: "app_analytics_events", Column: "subject", Scope: scopePseudonym, Kind: keyring.KindBlindIndex},
}

// fields are the handles the handlers use; building them once at startup
// makes a typo in a table or column name fail before the first request.
type fields struct {
	name, email, taxID, bank, oauth, session, lead, totp *keyring.Field

	emailIndex, apiKeyPepper, pseudonym *keyring.BlindIndex
	subjects                            *keyring.SubjectKeys
}

// errPersistentWithoutKeys refuses throwaway keys on a database that
// outlives the process: their IDs (1-12) are those of any registry written
// by -write-keys, so data sealed under them would carry valid-looking key IDs
// and open under no key ever again once the real registry is loaded.
var errPersistentWithoutKeys = errors.New("keys: refusing to start on PostgreSQL without a key registry: " +
	"throwaway keys would seal data that no restart can read. Pass -keys FILE (create it once with " +
	"-write-keys FILE), or -dev-keys on a scratch database you will throw away")

// loadKeys returns the registry document: read from keysFile, or generated in
// memory when keysFile is "" (a demo: every restart loses the keys, and with
// them every encrypted value, so it says so loudly on warn).
func loadKeys(ctx context.Context, keysFile string, warn io.Writer) (*keyring.Document, error) {
	if keysFile != "" {
		// FileSource refuses a file readable by group or others.
		return keyring.FileSource(keysFile).Document(ctx)
	}
	fmt.Fprintln(warn, "WARNING: encryption keys are generated in memory and die with this process;")
	fmt.Fprintln(warn, "         data sealed under them cannot be read after a restart. Use -keys FILE")
	fmt.Fprintln(warn, "         (create one with -write-keys FILE) for anything but a demo.")
	return keyring.Init(keyScopes)
}

// codeColumns returns the columns declared here that the document does not
// already declare (a registry written by -write-keys carries them, so that
// operator tools such as "rampart keys check" know them too).
func codeColumns(doc *keyring.Document) []keyring.Column {
	var out []keyring.Column
	for _, c := range keyColumns {
		found := false
		for _, d := range doc.Columns {
			if d.Table == c.Table && d.Column == c.Column {
				found = true
			}
		}
		if !found {
			out = append(out, c)
		}
	}
	return out
}

// newFields builds the ring and every handle; subjectStore keeps the wrapped
// per-user data keys (memory or keyring/pgstore).
func newFields(doc *keyring.Document, subjectStore keyring.SubjectKeyStore) (*fields, error) {
	ring, err := keyring.New(doc, codeColumns(doc)...)
	if err != nil {
		return nil, err
	}
	f := &fields{
		name:    ring.Field("app_users", "name"),
		email:   ring.Field("app_users", "email"),
		taxID:   ring.Field("app_users", "tax_id"),
		bank:    ring.Field("app_payouts", "bank_account"),
		oauth:   ring.Field("app_integrations", "token"),
		session: ring.Field("app_session_data", "payload"),
		lead:    ring.Field("app_leads", "payload"),
		totp:    ring.Field("mfa_enrollments", "sealed_secret"),
	}
	for _, fl := range []*keyring.Field{f.name, f.email, f.taxID, f.bank, f.oauth, f.session, f.lead, f.totp} {
		if err := fl.Err(); err != nil {
			return nil, err
		}
	}
	// Emails are compared case-insensitively, so the index normalises.
	if f.emailIndex, err = ring.BlindIndex("app_users", "email_idx", keyring.WithNormalizer(bytes.ToLower)); err != nil {
		return nil, err
	}
	if f.apiKeyPepper, err = ring.BlindIndex("authn_api_keys", "hash"); err != nil {
		return nil, err
	}
	if f.pseudonym, err = ring.BlindIndex("app_analytics_events", "subject"); err != nil {
		return nil, err
	}
	if f.subjects, err = ring.SubjectKeys(scopeSubjectKeys, subjectStore); err != nil {
		return nil, err
	}
	return f, nil
}

// writeKeys creates a fresh registry file for this app (mode 0600).
func writeKeys(path string) error {
	doc, err := keyring.Init(keyScopes, keyColumns...)
	if err != nil {
		return err
	}
	return keyring.WriteFile(path, doc)
}
