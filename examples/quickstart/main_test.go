package main

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestQuickstart runs the whole story, as `go run ./examples/quickstart` does.
func TestQuickstart(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), &out))
	require.Contains(t, out.String(), "Done:")
	t.Log(out.String())
}

func TestStoryClock(t *testing.T) {
	var out bytes.Buffer
	s := &story{w: &out}
	start := s.clock()
	s.advance(31 * 24 * time.Hour)
	require.Equal(t, 31*24*time.Hour, s.clock().Sub(start))
	s.say("hello %s", "world")
	require.Equal(t, "  hello world\n", out.String())
}
