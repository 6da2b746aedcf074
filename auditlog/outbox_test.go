package auditlog_test

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/rampart-sdk/rampart/auditlog"
	"github.com/rampart-sdk/rampart/auditlog/auditlogtest"
)

// memOutbox is an auditlog.Outbox over a MemStore: waiting entries in a
// slice, relayed through AppendBatch. panicIn names the method (or the
// callback) that panics once.
type memOutbox struct {
	store memStore

	mu      sync.Mutex
	waiting []auditlog.Entry
	panicIn string
}

func (o *memOutbox) fire(where string) {
	o.mu.Lock()
	hit := o.panicIn == where
	if hit {
		o.panicIn = ""
	}
	o.mu.Unlock()
	if hit {
		panic("injected relay panic")
	}
}

func (o *memOutbox) OutboxChains(context.Context, int) ([]string, error) {
	o.fire("chains")
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.waiting) == 0 {
		return nil, nil
	}
	return []string{o.waiting[0].Chain}, nil
}

func (o *memOutbox) RelayOutbox(ctx context.Context, chain string, max int, seal auditlog.OutboxSealFunc, committed func(*auditlog.Batch)) (int, error) {
	o.fire("relay")
	o.mu.Lock()
	defer o.mu.Unlock()
	n := min(len(o.waiting), max)
	if n == 0 {
		return 0, nil
	}
	var b *auditlog.Batch
	err := o.store.AppendBatch(ctx, chain, func(h auditlog.Head, tree tlog.HashReader) (*auditlog.Batch, error) {
		var err error
		b, err = seal(h, tree, o.waiting[:n])
		return b, err
	})
	if err != nil {
		return 0, err
	}
	o.waiting = o.waiting[n:]
	committed(b)
	return n, nil
}

func (o *memOutbox) OutboxStatus(context.Context) (auditlog.OutboxStatus, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return auditlog.OutboxStatus{Depth: int64(len(o.waiting))}, nil
}

// A panic anywhere in the relay (listing chains, relaying, the OnSealed
// hook) is recovered and logged, and the relay goes on: every waiting
// entry is sealed once, in order.
func TestRelayRecoversFromPanics(t *testing.T) {
	t.Parallel()
	for _, where := range []string{"chains", "relay", "onsealed"} {
		t.Run(where, func(t *testing.T) {
			t.Parallel()
			var logs bytes.Buffer
			var logMu sync.Mutex
			store := newMemStore()
			l, err := auditlog.New(store, auditlog.WithLogger(slog.New(slog.NewTextHandler(lockedWriter{&logMu, &logs}, nil))))
			require.NoError(t, err)
			require.NoError(t, l.Register(auditlogtest.Actions...))
			o := &memOutbox{store: store, panicIn: where}
			for i := range 5 {
				e, err := l.Prepare(auditlog.Entry{Org: "acme", Actor: "user:1", Action: "test.created", Target: "x:" + string(rune('a'+i))})
				require.NoError(t, err)
				o.waiting = append(o.waiting, e)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			var sealedMu sync.Mutex
			panicked := where == "onsealed"
			go func() {
				done <- l.RunOutbox(ctx, o, auditlog.RelayOptions{Interval: time.Millisecond, OnSealed: func([]auditlog.Entry) {
					sealedMu.Lock()
					defer sealedMu.Unlock()
					if panicked {
						panicked = false
						panic("injected relay panic")
					}
				}})
			}()
			require.Eventually(t, func() bool {
				st, _ := o.OutboxStatus(ctx)
				return st.Drained()
			}, 10*time.Second, time.Millisecond)
			cancel()
			require.ErrorIs(t, <-done, context.Canceled)
			var targets []string
			require.NoError(t, store.Scan(context.Background(), "org:acme", 0, func(e *auditlog.Entry) error {
				targets = append(targets, e.Target)
				return nil
			}))
			require.Equal(t, []string{"x:a", "x:b", "x:c", "x:d", "x:e"}, targets)
			logMu.Lock()
			defer logMu.Unlock()
			require.Contains(t, logs.String(), "panic in the outbox relay")
		})
	}
}

// panicHandler is a slog handler that panics on every record.
type panicHandler struct{ slog.Handler }

func (panicHandler) Enabled(context.Context, slog.Level) bool { return true }
func (panicHandler) Handle(context.Context, slog.Record) error {
	panic("injected logger panic")
}

// A logger that panics while the relay reports a panic and a failed pass
// does not end the relay: it still seals every entry once.
func TestRelaySurvivesAPanickingLogger(t *testing.T) {
	t.Parallel()
	store := newMemStore()
	l, err := auditlog.New(store, auditlog.WithLogger(slog.New(panicHandler{})))
	require.NoError(t, err)
	require.NoError(t, l.Register(auditlogtest.Actions...))
	o := &memOutbox{store: store, panicIn: "relay"}
	e, err := l.Prepare(auditlog.Entry{Org: "acme", Actor: "user:1", Action: "test.created", Target: "x:1"})
	require.NoError(t, err)
	o.waiting = append(o.waiting, e)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.RunOutbox(ctx, o, auditlog.RelayOptions{Interval: time.Millisecond}) }()
	require.Eventually(t, func() bool {
		st, _ := o.OutboxStatus(ctx)
		return st.Drained()
	}, 10*time.Second, time.Millisecond)
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
	h, err := store.Head(context.Background(), "org:acme")
	require.NoError(t, err)
	require.Equal(t, uint64(1), h.Size)
}
