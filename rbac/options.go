package rbac

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"unicode"
)

// RouterOption configures NewRouter. Every option of this package is an
// Option, which NewRouter and NewGuard both take.
type RouterOption interface{ applyRouter(*config) }

// GuardOption configures NewGuard. Every option of this package is an
// Option, which NewRouter and NewGuard both take.
type GuardOption interface{ applyGuard(*config) }

// Option configures a Router or a Guard: a Guard is a Router's enforcement
// without its mux, so it reads every option a Router does.
type Option interface {
	RouterOption
	GuardOption
}

// option implements Option. Each With* checks its own argument and keeps
// the first problem in the config, for the constructor to return.
type option func(*config)

func (o option) applyRouter(c *config) { o(c) }
func (o option) applyGuard(c *config)  { o(c) }

type config struct {
	principal func(*http.Request) (Principal, bool)
	orgFrom   func(*http.Request) (string, bool)
	orgParam  string
	recorder  Recorder
	logger    *slog.Logger
	bind      func(context.Context, string) context.Context
	err       error // the first invalid option
}

// invalid records the first invalid option.
func (c *config) invalid(option, format string, a ...any) {
	if c.err == nil {
		c.err = fmt.Errorf("%w: %s: %s", ErrInvalidConfig, option, fmt.Sprintf(format, a...))
	}
}

// WithPrincipalFunc sets how the principal is read from a request, e.g. from
// the host's own authentication context. The default reads WithPrincipal's
// value from the request context. f must not be nil. NewRouter and NewGuard
// take it.
func WithPrincipalFunc(f func(*http.Request) (Principal, bool)) Option {
	return option(func(c *config) {
		if f == nil {
			c.invalid("WithPrincipalFunc", "nil function; omit the option to read WithPrincipal's value")
			return
		}
		c.principal = f
	})
}

// WithOrgExtractor makes f the only source of the organisation a request
// targets (e.g. a subdomain or a path segment of another router), and makes
// every protected route tenant-scoped: a request for which f reports false
// is refused with 403. Query parameters and headers are never read unless f
// reads them, which it should not: they are attacker-chosen. f must not be
// nil. NewRouter and NewGuard take it.
func WithOrgExtractor(f func(*http.Request) (org string, ok bool)) Option {
	return option(func(c *config) {
		if f == nil {
			c.invalid("WithOrgExtractor", "nil function; omit the option to read the path wildcard")
			return
		}
		c.orgFrom = f
	})
}

// WithOrgPathValue names the path wildcard that carries the organisation;
// the default is "org", as in "GET /orgs/{org}/invoices". The name must be
// a wildcard name http.ServeMux accepts: a letter or underscore, then
// letters, digits or underscores. NewRouter and NewGuard take it.
func WithOrgPathValue(name string) Option {
	return option(func(c *config) {
		if !validWildcardName(name) {
			c.invalid("WithOrgPathValue", "%q is not a wildcard name (a letter or _, then letters, digits or _)", name)
			return
		}
		c.orgParam = name
	})
}

// WithAuthorizedOrg makes the router hand an allowed request on with its
// context passed through bind and the organisation it authorised (the
// path's, or the principal's own on an unscoped route), so handlers read the
// organisation from the context, never from the URL again. With
// tenant/pgstore it is tenant.With:
//
//	rbac.NewRouter(policy, rbac.WithAuthorizedOrg(tenant.With))
//
// bind must not be nil. NewRouter and NewGuard take it.
func WithAuthorizedOrg(bind func(ctx context.Context, org string) context.Context) Option {
	return option(func(c *config) {
		if bind == nil {
			c.invalid("WithAuthorizedOrg", "nil function")
			return
		}
		c.bind = bind
	})
}

// WithRecorder sends every 403 to r as ActionAccessDenied. A denial r
// fails to record is answered 503 with Retry-After instead of 403 (the
// request is denied either way), so that every 403 a client sees was
// audited; the client's retry is denied again, and recorded. r must not be
// nil: omit the option to record nothing. NewRouter and NewGuard take it.
func WithRecorder(r Recorder) Option {
	return option(func(c *config) {
		if r == nil {
			c.invalid("WithRecorder", "nil recorder; omit the option to record no denials")
			return
		}
		c.recorder = r
	})
}

// WithLogger receives recorder failures (the request is denied either way).
// The default is slog.Default(); l must not be nil. NewRouter and NewGuard
// take it.
func WithLogger(l *slog.Logger) Option {
	return option(func(c *config) {
		if l == nil {
			c.invalid("WithLogger", "nil logger; omit the option for slog.Default()")
			return
		}
		c.logger = l
	})
}

// newConfig applies opts to the defaults and returns the first invalid
// option's error, wrapping ErrInvalidConfig.
func newConfig[O any](ctor string, policy *Policy, opts []O, apply func(O, *config)) (config, error) {
	c := config{orgParam: "org"}
	if policy == nil {
		return c, fmt.Errorf("%w: %s: nil policy", ErrInvalidConfig, ctor)
	}
	for i, o := range opts {
		if any(o) == nil {
			return c, fmt.Errorf("%w: %s: option %d is nil", ErrInvalidConfig, ctor, i)
		}
		apply(o, &c)
	}
	if c.err != nil {
		return c, c.err
	}
	if c.principal == nil {
		c.principal = func(r *http.Request) (Principal, bool) { return PrincipalFrom(r.Context()) }
	}
	return c, nil
}

// validWildcardName is http.ServeMux's rule for a wildcard name: a Go
// identifier.
func validWildcardName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if !unicode.IsLetter(r) && r != '_' && (i == 0 || !unicode.IsDigit(r)) {
			return false
		}
	}
	return true
}
