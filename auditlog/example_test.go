package auditlog_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rampart-sdk/rampart/auditlog"
)

// Register the actions a host emits, record entries, verify the chain, and
// see verification name the entry someone edited.
func Example() {
	ctx := context.Background()
	clock := func() time.Time { return time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC) }
	store := auditlog.NewMemoryStore()
	log, err := auditlog.New(store, auditlog.WithClock(clock))
	if err != nil {
		panic(err)
	}
	if err := log.Register(auditlog.ActionType{Name: "invoice.paid", Category: auditlog.CategoryAdmin,
		Description: "an invoice was marked paid", SchemaVersion: 1}); err != nil {
		panic(err)
	}

	for _, actor := range []string{"user:alice", "apikey:ci-bot", "system:cron/billing"} {
		if err := log.Record(ctx, "acme", actor, "invoice.paid", "invoice:7", map[string]any{"amount": 1250}); err != nil {
			panic(err)
		}
	}
	err = log.Record(ctx, "acme", "user:alice", "invoice.deleted", "invoice:7", nil)
	fmt.Println(errors.Is(err, auditlog.ErrUnknownAction))

	res, err := auditlog.Verify(ctx, store, auditlog.ChainFor("acme"), auditlog.VerifyOptions{})
	fmt.Println(res.Size, err)

	var entries []auditlog.Entry
	_ = store.Scan(ctx, "org:acme", 0, func(e *auditlog.Entry) error { entries = append(entries, *e); return nil })
	entries[1].Actor = "user:mallory"
	_, err = auditlog.VerifyEntries("org:acme", entries)
	fmt.Println(err)
	// Output:
	// true
	// 3 <nil>
	// auditlog: chain "org:acme": entry 1: hash mismatch: stored hash is not the hash of the entry
}
