package monitor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// forwarder sends pings in the background: bounded in time, attempts and
// concurrency, never blocking or failing the job that signalled.
type forwarder struct {
	client  *http.Client
	timeout time.Duration
	retries int
	backoff time.Duration
	sem     chan struct{}
	wg      sync.WaitGroup
	log     *slog.Logger
}

func (f *forwarder) send(base string, sig Signal, cause string) {
	target := strings.TrimRight(base, "/")
	switch sig {
	case SignalStart:
		target += "/start"
	case SignalFail:
		target += "/fail"
	}
	select {
	case f.sem <- struct{}{}:
	default:
		f.log.Warn("monitor: heartbeat ping dropped: too many in flight", "signal", string(sig))
		return
	}
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		defer func() { <-f.sem }()
		defer func() {
			// A panicking http.Client (a host's RoundTripper) must not end
			// the process: the ping is lost, as after any failure.
			if r := recover(); r != nil {
				// Only its type: the value may hold the ping URL, a secret.
				f.log.Error("monitor: heartbeat ping panicked", "signal", string(sig), "panic_type", fmt.Sprintf("%T", r))
			}
		}()
		var err error
		for attempt := 0; attempt <= f.retries; attempt++ {
			if attempt > 0 {
				time.Sleep(f.backoff * time.Duration(attempt))
			}
			if err = f.ping(target, cause); err == nil {
				return
			}
		}
		f.log.Warn("monitor: heartbeat ping failed", "signal", string(sig), "attempts", f.retries+1, "err", err)
	}()
}

var errPingStatus = errors.New("unexpected status")

func (f *forwarder) ping(target, body string) error {
	ctx, cancel := context.WithTimeout(context.Background(), f.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	resp, err := f.client.Do(req)
	if err != nil {
		// The URL (which embeds the check's secret UUID) stays out of logs.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			return uerr.Err
		}
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	_ = resp.Body.Close()
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%w %d", errPingStatus, resp.StatusCode)
	}
	return nil
}
