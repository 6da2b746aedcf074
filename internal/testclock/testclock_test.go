package testclock_test

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/internal/testclock"
)

func TestClock(t *testing.T) {
	t0 := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	c := testclock.New(t0)
	require.Equal(t, t0, c.Now())
	c.Advance(time.Hour)
	require.Equal(t, t0.Add(time.Hour), c.Now())
	c.Set(t0)
	require.Equal(t, t0, c.Now())

	var wg sync.WaitGroup // read while moved: the race detector's business
	for range 4 {
		wg.Go(func() {
			for range 100 {
				_ = c.Now()
			}
		})
	}
	for range 100 {
		c.Advance(time.Second)
	}
	wg.Wait()
	require.Equal(t, t0.Add(100*time.Second), c.Now())
}
