package main

import (
	"context"
	"errors"

	"github.com/rampart-sdk/rampart/auditlog"
)

// auditlogChapter: the log every chapter wrote to (rbac's denial, mfa's
// enrolment, privacy's transitions, compliance's escalation) verifies chain
// by chain against its signed checkpoints; then a tampered copy and a
// truncated one are caught, naming the entry and the reason.
func auditlogChapter() chapter {
	return chapter{title: "auditlog: a hash-chained log that names the entry someone edited", run: func(ctx context.Context, s *story) error {
		log, store := s.audit, s.auditStore
		if err := log.Record(ctx, "acme", "user:alice", "invoice.deleted", "invoice:7", nil); errors.Is(err, auditlog.ErrUnknownAction) {
			s.say("unregistered action refused: %v", err)
		}
		for i, rec := range []struct{ actor, action, target string }{
			{"user:alice", "invoice.paid", "invoice:7"},
			{"apikey:ci-bot", "invoice.paid", "invoice:8"},
			{"user:alice", "user.role.changed", "user:bob"},
			{"system:cron/billing", "invoice.paid", "invoice:9"},
		} {
			s.advance(60_000_000_000)
			if err := log.Record(ctx, "acme", rec.actor, rec.action, rec.target, map[string]any{"step": i}); err != nil {
				return err
			}
		}
		saved := s.checkpoints
		chains, err := store.Chains(ctx)
		if err != nil {
			return err
		}
		for _, c := range chains {
			res, err := auditlog.Verify(ctx, store, c, auditlog.VerifyOptions{Checkpoints: saved})
			if err != nil {
				return err
			}
			s.say("chain %-14s %2d entries verify, %d signed checkpoints match", res.Chain+":", res.Size, res.Checkpoints)
		}
		res, err := auditlog.Verify(ctx, store, auditlog.ChainFor("acme"), auditlog.VerifyOptions{Checkpoints: saved})
		if err != nil {
			return err
		}

		var copyOf []auditlog.Entry
		if err := store.Scan(ctx, res.Chain, 0, func(e *auditlog.Entry) error { copyOf = append(copyOf, *e); return nil }); err != nil {
			return err
		}
		tampered := append([]auditlog.Entry(nil), copyOf...)
		tampered[2].Actor = "user:mallory" // someone rewrites who changed bob's role
		_, err = auditlog.VerifyEntries(res.Chain, tampered, saved...)
		var ve *auditlog.VerifyError
		if !errors.As(err, &ve) {
			return errors.New("tampering went unnoticed")
		}
		s.say("tampered copy: entry %d fails: %s", ve.Seq, ve.Reason)

		// Delete the newest rows back past the latest checkpoint: without
		// the checkpoint the shorter chain would be perfectly consistent.
		var signed uint64
		for _, cp := range saved {
			if cp.Chain == res.Chain && cp.Size > signed {
				signed = cp.Size
			}
		}
		_, err = auditlog.VerifyEntries(res.Chain, copyOf[:signed-1], saved...)
		if !errors.As(err, &ve) {
			return errors.New("truncation went unnoticed")
		}
		s.say("newest entries deleted: %s from entry %d on (only a signed checkpoint shows it)", ve.Reason, ve.Seq)
		return nil
	}}
}
