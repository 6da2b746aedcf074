package main

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
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
	a.log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "error", err)
	writeProblem(w, http.StatusInternalServerError, "Internal error", "the request could not be completed")
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
