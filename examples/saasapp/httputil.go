package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// writeJSON answers with a JSON body.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeProblem answers with an RFC 9457 problem document. The detail is
// written for the client and never names anything internal.
func writeProblem(w http.ResponseWriter, status int, title, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"type": "about:blank", "title": title, "status": status, "detail": detail})
}

// fail logs an unexpected error with the request's route and answers 500
// without saying what broke: the log has it, the client does not need it.
func (a *app) fail(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, errNotFound):
		writeProblem(w, http.StatusNotFound, "Not found", "no such resource in this organisation")
		return
	case errors.Is(err, errExists):
		writeProblem(w, http.StatusConflict, "Conflict", "the resource already exists or is not in a state that allows this")
		return
	}
	if retryable(err) {
		a.log.WarnContext(r.Context(), "request failed, retryable", "method", r.Method, "path", r.URL.Path, "error", err)
		unavailable(w, "the service is briefly unavailable; retry the request")
		return
	}
	a.log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "error", err)
	writeProblem(w, http.StatusInternalServerError, "Internal error", "the request could not be completed")
}

// retryAfter is the Retry-After of a 503: long enough for a pool to replace a
// killed connection or a failover to finish, short enough not to matter.
const retryAfter = "1"

// unavailable answers 503 with Retry-After: the client may send the same
// request again.
func unavailable(w http.ResponseWriter, detail string) {
	w.Header().Set("Retry-After", retryAfter)
	writeProblem(w, http.StatusServiceUnavailable, "Service Unavailable", detail)
}

// retryable reports whether err is a failure of the database's availability
// rather than of the request: a killed or refused connection, a timeout, a
// server shutting down or out of resources, a serialisation failure or a
// deadlock. The same request may succeed when sent again.
func retryable(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code[:min(2, len(pgErr.Code))] {
		case "08", // connection exception
			"53", // insufficient resources
			"57": // operator intervention: admin or crash shutdown, cannot connect now
			return true
		}
		return pgErr.Code == "40001" || pgErr.Code == "40P01" // serialization failure, deadlock
	}
	var netErr net.Error
	var connectErr *pgconn.ConnectError
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.As(err, &netErr) || errors.As(err, &connectErr) || pgconn.Timeout(err) || pgconn.SafeToRetry(err)
}

// GET /readyz answers 204 when the database answers within two seconds, and
// 503 with Retry-After when it does not.
func (a *app) handleReady(w http.ResponseWriter, r *http.Request) {
	if a.pool != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := a.pool.Ping(ctx); err != nil {
			a.log.WarnContext(r.Context(), "not ready", "error", err)
			unavailable(w, "the database does not answer")
			return
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

// decode reads a small JSON body into v, refusing unknown fields so a typo
// in a client is an error rather than an ignored field.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeProblem(w, http.StatusBadRequest, "Bad request", "the body must be a JSON object with the documented fields")
		return false
	}
	return true
}

// newID returns prefix, "-" and 20 random base32 characters (100 bits).
// IDs stay within [a-z0-9-] because they end up in audit chain names.
func newID(prefix string) string {
	return prefix + "-" + strings.ToLower(rand.Text()[:20])
}

// payloadMap decodes an audit payload for display.
func payloadMap(b []byte) map[string]any {
	var m map[string]any
	if len(b) > 0 {
		_ = json.Unmarshal(b, &m)
	}
	return m
}
