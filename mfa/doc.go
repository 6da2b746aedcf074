// Package mfa adds TOTP multi-factor authentication to a host application:
// enrolment with an otpauth:// URI and QR code, verification with a replay
// guard and attempt limiting, single-use recovery codes, step-up freshness
// for sensitive routes, and enforcement per organisation and account kind.
//
// # Threats addressed
//
//   - A stolen password: the second factor is a code derived from a secret
//     on the user's phone, stored here only encrypted through a Sealer
//     (e.g. a keyring field), never in plain text.
//   - A code observed or relayed (phishing proxy, shoulder surfing, logs):
//     each 30-second step is accepted at most once per account, and never a
//     step earlier than the last accepted one. The check and the update are
//     one atomic operation in the Store (a conditional UPDATE in
//     PostgreSQL), so two application instances receiving the same code at
//     the same moment accept it exactly once.
//   - Online guessing: at most 5 failures (by default) per 15 minutes are
//     counted, and a right code is accepted only while fewer are recorded;
//     both are conditional writes of the enrolment row, atomic with the
//     replay guard. A burst of concurrent guesses evaluated against the same
//     read gets at most 5 answers other than the lock-out, and a right code
//     among the rest is refused with that same lock-out, so the burst wins
//     and learns no more than 5 guesses made one after another. Once an
//     account is locked, codes are not even evaluated, and the answer is
//     identical for right and wrong codes.
//   - Timing side channels: every candidate step is computed and compared
//     in constant time, with no early return.
//   - A hijacked session performing a sensitive operation long after login:
//     RequireRecent demands a recent MFA verification (RFC 9457 problem
//     type ProblemStepUpRequired otherwise).
//   - Members skipping MFA: CheckLogin reports ErrEnrollmentRequired for
//     staff, affiliates, and members of organisations that require it.
//
// Not addressed: real-time phishing that relays a fresh code before the user
// uses it (use WebAuthn for that), malware on the user's phone, and an
// attacker who holds both the database and the Sealer's keys.
//
// # Use
//
//	m, _ := mfa.New("Acme", mfa.NewMemoryStore(), keyringField)
//	setup, _ := m.Begin(ctx, acct, "ada@example.com") // show setup.PNG(256)
//	codes, _ := m.Confirm(ctx, acct, typedCode)       // show codes.Codes() once
//	err := m.Verify(ctx, acct, typedCode)            // at each login
package mfa
