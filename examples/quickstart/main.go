// Command quickstart shows every rampart package working on in-memory
// adapters, as one scripted story. It needs no database and no setup:
//
//	go run ./examples/quickstart
//
// Each chapter lives in a file of its own and uses only the public API, so
// the code reads as a guide to wiring the package into a host.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/rampart-sdk/rampart/auditlog"
	"github.com/rampart-sdk/rampart/keyring"
)

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

// story is what every chapter shares: where to tell the story, and a clock
// that the chapters advance instead of sleeping.
type story struct {
	w   io.Writer
	now time.Time

	// ring is the key registry the keyring chapter loads; later chapters
	// seal their secrets with its fields (mfa's TOTP secrets).
	ring *keyring.Ring
	// audit is the one audit log every package records to, as in a host:
	// rbac denials, mfa resets, privacy transitions, compliance escalations.
	audit      *auditlog.Log
	auditStore auditlog.Store
	// checkpoints are the signed checkpoints the log published, kept
	// "outside the database" (here: in memory) for the final verification.
	checkpoints []auditlog.Checkpoint
}

// say prints one line of the story.
func (s *story) say(format string, a ...any) {
	fmt.Fprintf(s.w, "  "+format+"\n", a...)
}

// advance moves the story's clock forward, e.g. past a cooldown.
func (s *story) advance(d time.Duration) { s.now = s.now.Add(d) }

// clock returns the story's current time; packages take it as their clock.
func (s *story) clock() time.Time { return s.now }

type chapter struct {
	title string
	run   func(ctx context.Context, s *story) error
}

// chapters lists the story in the order a request meets the controls: keys
// protect the data, authentication, rbac and MFA decide who may do what,
// the privacy and compliance jobs run in the background, and at the end the
// audit log that every chapter wrote to proves it was not rewritten.
func chapters() []chapter {
	return []chapter{
		keyringChapter(),
		authnChapter(),
		rbacChapter(),
		mfaChapter(),
		privacyChapter(),
		complianceChapter(),
		auditlogChapter(),
	}
}

func run(ctx context.Context, w io.Writer) error {
	s := &story{w: w, now: time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)}
	if err := s.openAuditLog(); err != nil {
		return err
	}
	fmt.Fprintln(w, "rampart quickstart: the security controls of a SaaS backend, on in-memory stores.")
	chs := chapters()
	if len(chs) == 0 {
		fmt.Fprintln(w, "  (no packages are wired in yet)")
	}
	for i, ch := range chs {
		fmt.Fprintf(w, "\n%d. %s\n", i+1, ch.title)
		if err := ch.run(ctx, s); err != nil {
			return fmt.Errorf("%s: %w", ch.title, err)
		}
	}
	fmt.Fprintln(w, "\nDone: every control above ran on in-memory adapters. See README.md for Postgres.")
	return nil
}
