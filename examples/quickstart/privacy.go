package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"time"

	"github.com/rampart-sdk/rampart/privacy"
)

// privacyChapter: a user asks to be deleted, changes their mind, asks again;
// after the 30-day cooldown the sweeper erases them. Then consent-gated
// analytics, and a right-of-access export.
func privacyChapter() chapter {
	return chapter{
		title: "privacy: soft delete, cooldown, erasure, consent and export",
		run: func(ctx context.Context, s *story) error {
			// One store; a Lifecycle, a Requests and a Consent over it.
			store := privacy.NewMemoryStore()
			lifecycle, err := privacy.NewLifecycle(store, privacy.WithClock(s.clock), privacy.WithRecorder(s.audit))
			if err != nil {
				return err
			}
			requests, err := privacy.NewRequests(store, privacy.WithClock(s.clock), privacy.WithRecorder(s.audit))
			if err != nil {
				return err
			}
			consent, err := privacy.NewConsent(store, privacy.WithClock(s.clock))
			if err != nil {
				return err
			}

			// The host's data: one "users" table, erased through a plan.
			users := map[string]map[string]any{"u-ada": {"email": "ada@example.com", "name": "Ada"}}
			plan := privacy.Plan{"email": privacy.SetNull(), "name": privacy.Replace("deleted user")}
			err = lifecycle.RegisterDomain(privacy.Domain{
				Name: "users",
				Eraser: privacy.EraserFunc(func(ctx context.Context, req privacy.EraseRequest) (privacy.Result, error) {
					row, ok := users[req.SubjectID]
					if !ok {
						return privacy.Result{}, nil
					}
					out, _, err := plan.Apply(ctx, req.SubjectID, row)
					users[req.SubjectID] = out
					return privacy.Result{Records: 1}, err
				}),
				Exporter: privacy.ExporterFunc(func(ctx context.Context, org, id string, yield func(any) error) error {
					if row, ok := users[id]; ok {
						return yield(row)
					}
					return nil
				}),
			})
			if err != nil {
				return err
			}

			ada := privacy.Ref{Org: "acme", ID: "u-ada"}
			sub, err := lifecycle.RequestDeletion(ctx, ada, "user:u-ada", "closing my account")
			if err != nil {
				return err
			}
			s.say("Ada asks to be deleted: %s, restorable until %s", sub.State, sub.EraseAfter.Format("2006-01-02"))
			if sub, err = lifecycle.Restore(ctx, ada, "user:u-ada", "changed my mind"); err != nil {
				return err
			}
			s.say("she changes her mind the same day: %s", sub.State)
			if _, err = lifecycle.RequestDeletion(ctx, ada, "user:u-ada", "closing for good"); err != nil {
				return err
			}
			s.advance(31 * 24 * time.Hour)
			_, err = lifecycle.Restore(ctx, ada, "user:u-ada", "too late")
			if !errors.Is(err, privacy.ErrCooldownElapsed) {
				return fmt.Errorf("restore after the cooldown was not refused: %v", err)
			}
			s.say("31 days later a restore is refused: %v", err)
			rep, err := lifecycle.Sweep(ctx, privacy.SweepOptions{})
			if err != nil {
				return err
			}
			sub, _ = lifecycle.Status(ctx, ada)
			s.say("the sweeper erased %d subject(s): Ada is %s, her row is now %v", rep.Erased, sub.State, users["u-ada"])

			// Consent-gated, cookie-less analytics.
			if err := consent.RegisterPurpose(privacy.Purpose{Name: "analytics", Version: 1}); err != nil {
				return err
			}
			gate := privacy.NewConsentGate(consent, func(r *http.Request) (string, string, bool) {
				return "acme", "visitor:" + r.Header.Get("X-Visitor"), r.Header.Get("X-Visitor") != ""
			})
			page := httptest.NewRequest(http.MethodGet, "/", nil)
			page.Header.Set("X-Visitor", "v-42")
			s.say("before opt-in, emit the tracking snippet? %t", gate.Allowed(page, "analytics"))
			choice := httptest.NewRequest(http.MethodPost, "/consent",
				strings.NewReader(url.Values{"purpose": {"analytics"}, "choice": {"grant"}}.Encode()))
			choice.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			choice.Header.Set("X-Visitor", "v-42")
			w := httptest.NewRecorder()
			gate.Handler().ServeHTTP(w, choice)
			s.say("the visitor opts in (HTTP %d); emit the snippet now? %t", w.Code, gate.Allowed(page, "analytics"))

			// Right of access: a streamed, checksummed export.
			users["u-bob"] = map[string]any{"email": "bob@example.com", "name": "Bob"}
			bob := privacy.Ref{Org: "acme", ID: "u-bob"}
			if _, err := requests.Receive(ctx, bob, privacy.KindAccess, true, "user:u-bob"); err != nil {
				return err
			}
			var doc bytes.Buffer
			if _, err := lifecycle.Export(ctx, &doc, bob, "user:u-bob"); err != nil {
				return err
			}
			info, err := privacy.ReadExport(&doc)
			if err != nil {
				return err
			}
			var sections []string
			for _, e := range info.Manifest {
				sections = append(sections, fmt.Sprintf("%s(%d)", e.Section, e.Records))
			}
			s.say("Bob's export (%s) checks against its manifest: %s", info.Schema, strings.Join(sections, ", "))
			return nil
		},
	}
}
