package mfa

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// ProblemStepUpRequired is the RFC 9457 problem type answered by
// RequireRecent when the session's last MFA verification is too old. Clients
// that see it run an MFA challenge and retry. The URI is stable.
const ProblemStepUpRequired = "https://rampart.dev/problems/mfa-step-up-required"

// problem is an RFC 9457 problem details body.
type problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
	// MaxAgeSeconds tells the client how recent the challenge must be.
	MaxAgeSeconds int64 `json:"max_age_seconds,omitempty"`
}

// maxStepUpAge bounds RequireRecent's maxAge: a verification older than a
// day is no step-up.
const maxStepUpAge = 24 * time.Hour

// RequireRecent guards sensitive routes (payouts, exports, deletion): it lets
// a request through only if fresh reports a session whose last MFA
// verification is at most maxAge old. Otherwise it answers 401 with an
// application/problem+json body of type ProblemStepUpRequired (or about:blank
// when there is no session at all). fresh is the host's bridge to its
// sessions, e.g. reading authn's identity from the request context. maxAge
// is from one second to 24 hours. Options: WithClock. A nil fresh, or a
// maxAge or option out of range, is an error wrapping ErrInvalidConfig: a
// mistake to stop the program at startup.
func RequireRecent(maxAge time.Duration, fresh func(*http.Request) (sessionID string, verifiedAt time.Time, ok bool), opts ...RequireRecentOption) (func(http.Handler) http.Handler, error) {
	if maxAge < time.Second || maxAge > maxStepUpAge {
		return nil, fmt.Errorf("%w: RequireRecent: maxAge %s outside [1s, %s]", ErrInvalidConfig, maxAge, maxStepUpAge)
	}
	if fresh == nil {
		return nil, fmt.Errorf("%w: RequireRecent: nil fresh function", ErrInvalidConfig)
	}
	o, err := configure(opts, RequireRecentOption.applyRequireRecent)
	if err != nil {
		return nil, err
	}
	now := o.now
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			sid, at, ok := fresh(r)
			if !ok || sid == "" {
				writeProblem(w, problem{Type: "about:blank", Title: "Unauthorized", Status: http.StatusUnauthorized,
					Detail: "Authentication is required."})
				return
			}
			age := now().Sub(at)
			// A verification in the future beyond small clock skew between
			// instances is not trusted.
			if at.IsZero() || age > maxAge || age < -time.Minute {
				writeProblem(w, problem{Type: ProblemStepUpRequired, Title: "Multi-factor re-authentication required",
					Status:        http.StatusUnauthorized,
					Detail:        fmt.Sprintf("This operation requires a multi-factor verification within the last %s.", maxAge),
					MaxAgeSeconds: int64(maxAge / time.Second)})
				return
			}
			next.ServeHTTP(w, r)
		})
	}, nil
}

func writeProblem(w http.ResponseWriter, p problem) {
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}
