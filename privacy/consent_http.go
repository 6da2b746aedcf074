package privacy

import (
	"context"
	"net/http"
)

// ConsentGate is the HTTP side of consent-gated, cookie-less analytics: a
// first-party endpoint where the visitor makes a choice, and a check a
// handler or template calls before it emits any tracking snippet. No cookie
// is set: the host decides who the visitor is (its session's subject, or a
// first-party visitor ID it already has).
type ConsentGate struct {
	c *Consent
	// who identifies the visitor: "subject:<id>" or "visitor:<id>".
	who func(r *http.Request) (org, who string, ok bool)
	// csrf refuses cross-origin browser requests: a forged grant would
	// start tracking without the visitor's consent.
	csrf *http.CrossOriginProtection
}

// NewConsentGate returns a gate over c; who identifies the request's visitor.
func NewConsentGate(c *Consent, who func(r *http.Request) (org, who string, ok bool)) *ConsentGate {
	return &ConsentGate{c: c, who: who, csrf: http.NewCrossOriginProtection()}
}

// Allowed reports whether the request's visitor consented to purpose. It
// fails closed: an unknown visitor, a missing record, a withdrawal, a stale
// policy version or a store error all answer false.
func (g *ConsentGate) Allowed(r *http.Request, purpose string) bool {
	org, who, ok := g.who(r)
	if !ok || who == "" {
		return false
	}
	return g.allowed(r.Context(), org, who, purpose)
}

func (g *ConsentGate) allowed(ctx context.Context, org, who, purpose string) bool {
	ok, err := g.c.Allowed(ctx, org, who, purpose)
	return err == nil && ok
}

// Handler is the consent choice endpoint: POST with form fields
// purpose=<name> and choice=grant|withdraw records the decision (source
// "web") and answers 204. Withdrawing takes the same single request as
// granting. Browsers' cross-origin form posts are refused
// (http.CrossOriginProtection: Sec-Fetch-Site, or Origin against Host for
// browsers that do not send it).
func (g *ConsentGate) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			writeProblem(w, http.StatusMethodNotAllowed, "Method not allowed", "use POST")
			return
		}
		if g.csrf.Check(r) != nil {
			writeProblem(w, http.StatusForbidden, "Forbidden", "consent choices are accepted from this site only")
			return
		}
		org, who, ok := g.who(r)
		if !ok || who == "" {
			writeProblem(w, http.StatusUnauthorized, "Unauthorized", "no visitor identity")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
		if err := r.ParseForm(); err != nil {
			writeProblem(w, http.StatusBadRequest, "Bad request", "malformed form")
			return
		}
		purpose := r.PostForm.Get("purpose")
		var err error
		switch r.PostForm.Get("choice") {
		case "grant":
			_, err = g.c.Grant(r.Context(), org, who, purpose, "web")
		case "withdraw":
			_, err = g.c.Withdraw(r.Context(), org, who, purpose, "web")
		default:
			writeProblem(w, http.StatusBadRequest, "Bad request", "choice must be grant or withdraw")
			return
		}
		if err != nil {
			writeProblem(w, http.StatusBadRequest, "Bad request", "unknown purpose or the choice could not be recorded")
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}
