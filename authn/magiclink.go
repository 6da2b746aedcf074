package authn

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// MagicLinks issues and consumes single-use login links: no password to
// store, leak, rotate or remember. The token in the link carries 256 random
// bits and only its SHA-256 is stored, so a read of the table yields nothing
// usable. A link is bound to an email and a purpose, expires (15 minutes by
// default) and is consumed atomically in the store: of two concurrent
// clicks, exactly one logs in. A link for an organisation that requires SSO
// is neither issued nor honoured (ErrSSORequired), and requests are
// throttled per client address besides the per-email limit.
type MagicLinks struct {
	store MagicLinkBackend
	cfg   config
}

// MagicLinkBackend is what MagicLinks needs: the links, the organisation
// policies and the login throttle. Every Store is one.
type MagicLinkBackend interface {
	MagicLinkStore
	LoginStore
}

// NewMagicLinks returns the magic-link manager over store. Options:
// WithMagicLinkTTL, WithMagicLinkRateLimit, WithThrottleLimits,
// WithRecorder, WithClock.
func NewMagicLinks(store MagicLinkBackend, opts ...MagicLinksOption) (*MagicLinks, error) {
	if store == nil {
		return nil, fmt.Errorf("%w: magic links: nil store", ErrInvalidArgument)
	}
	cfg, err := configure("magic links", opts, MagicLinksOption.applyMagicLinks)
	if err != nil {
		return nil, err
	}
	return &MagicLinks{store: store, cfg: cfg}, nil
}

// MagicLinkRequest asks for a link.
type MagicLinkRequest struct {
	// Org is the organisation the link logs into. Set it whenever the
	// recipient belongs to one: the organisation's SSO requirement is
	// checked against it when the link is issued and again when it is
	// consumed. (A link without one that the host turns into a session of
	// an SSO organisation is refused at that session's first lookup.)
	Org     string
	Email   string // recipient; normalised to trimmed lower case
	Purpose string // what the link may be used for, e.g. "login", "verify_email"
	// Addr is the requesting client's IP address, for the per-address
	// throttle (Client.Addr); empty: only the per-email limit applies.
	Addr string
}

// MagicLink is a consumed link: who it was for and why.
type MagicLink struct {
	Org       string
	Email     string
	Purpose   string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// normalizeEmail is the form emails are stored and rate-limited under.
func normalizeEmail(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

func (r MagicLinkRequest) check() (MagicLinkRequest, error) {
	valid := validID(r.Email) // before lower-casing, which rewrites invalid UTF-8
	r.Email = normalizeEmail(r.Email)
	if !valid || r.Email == "" || len(r.Email) > 254 || !strings.Contains(r.Email, "@") {
		return r, fmt.Errorf("%w: magic link: invalid email", ErrInvalidArgument)
	}
	if !validID(r.Org) {
		return r, fmt.Errorf("%w: magic link: org must be UTF-8 without NUL", ErrInvalidArgument)
	}
	if r.Purpose == "" || len(r.Purpose) > 64 || !validID(r.Purpose) {
		return r, fmt.Errorf("%w: magic link: purpose must be 1 to 64 bytes of UTF-8 without NUL", ErrInvalidArgument)
	}
	return r, nil
}

// Issue creates a link token for the request. It fails with ErrSSORequired
// when req.Org requires single sign-on (whatever the purpose: the package
// cannot know what the host grants for a link); with a *ThrottledError
// (ErrThrottled) when the client's address requested too many links in the
// throttle window; and with ErrRateLimited when the email already received
// the configured number of links in the window (5 per hour by default),
// whether or not an account exists. Both rate limits carry a
// *ThrottledError (errors.As; WriteThrottled answers 429 with Retry-After);
// for the per-email limit its RetryAfter is the window's length, an upper
// bound. Every call reads one policy, the empty
// organisation's included.
func (m *MagicLinks) Issue(ctx context.Context, req MagicLinkRequest) (MagicToken, error) {
	req, err := req.check()
	if err != nil {
		return MagicToken{}, err
	}
	var rules []ThrottleRule
	if req.Addr != "" {
		p, err := throttleAddressKey(req.Addr)
		if err != nil {
			return MagicToken{}, err
		}
		rules = []ThrottleRule{{Key: throttleMagicAddress + p, Limit: m.cfg.throttle.MagicLinkAddress, Window: m.cfg.throttle.Window}}
	}
	if err := m.checkPolicy(ctx, req.Org); err != nil {
		return MagicToken{}, err
	}
	if err := take(ctx, m.store, &m.cfg, rules, req.Org, Client{Login: req.Email, Addr: req.Addr}); err != nil {
		return MagicToken{}, err
	}
	now := m.cfg.now()
	raw, hash := newToken(magicTokenPrefix)
	rec := MagicLinkRecord{TokenHash: hash, Org: req.Org, Email: req.Email, Purpose: req.Purpose,
		CreatedAt: now, ExpiresAt: now.Add(m.cfg.magicTTL)}
	if err := m.store.InsertMagicLink(ctx, rec, m.cfg.issueLimit, now.Add(-m.cfg.issueWindow)); err != nil {
		if errors.Is(err, ErrRateLimited) {
			// The store's window slides; its length bounds the wait.
			return MagicToken{}, fmt.Errorf("%w (%w)", ErrRateLimited, &ThrottledError{RetryAfter: m.cfg.issueWindow})
		}
		return MagicToken{}, fmt.Errorf("authn: issue magic link: %w", err)
	}
	return MagicToken{newSecret(raw, redactToken(magicTokenPrefix))}, nil
}

// Send is the enumeration-safe way to answer "email me a login link": it
// issues a link (counting against the rate limit) whether or not known
// reports an account for the email, and calls deliver only if it does.
// Its result is the same in both cases, so the host's response, and the
// store writes behind it, do not reveal which emails have accounts. An
// error from known or deliver is returned for the host to log; the host
// should still answer the user as on success. deliver should enqueue the
// email rather than send it inline: a response that waits for an SMTP
// round trip only for known accounts tells them apart by its timing.
func (m *MagicLinks) Send(ctx context.Context, req MagicLinkRequest,
	known func(ctx context.Context, email string) (bool, error),
	deliver func(ctx context.Context, email string, token MagicToken) error,
) error {
	tok, err := m.Issue(ctx, req)
	if err != nil {
		return err
	}
	email := normalizeEmail(req.Email)
	ok, err := known(ctx, email)
	if err != nil {
		return fmt.Errorf("authn: magic link: account lookup: %w", err)
	}
	if !ok {
		return nil
	}
	if err := deliver(ctx, email, tok); err != nil {
		return fmt.Errorf("authn: magic link: deliver: %w", err)
	}
	return nil
}

// Consume redeems a link token for purpose. The token is consumed
// atomically before anything else is checked, so it can never be used
// twice: a second use fails with ErrMagicLinkUsed, an expired link with
// ErrMagicLinkExpired, an unknown one or one issued for another purpose
// with ErrMagicLinkInvalid, one whose organisation requires SSO by now
// with ErrSSORequired (such a link is burned all the same). A malformed token fails with ErrMalformedToken before the store is
// touched. The returned email is the one the link was issued to: the link
// logs in that address and no other.
func (m *MagicLinks) Consume(ctx context.Context, token, purpose string) (MagicLink, error) {
	hash, err := parseToken(magicTokenPrefix, token)
	if err != nil {
		return MagicLink{}, err
	}
	now := m.cfg.now()
	rec, err := m.store.ConsumeMagicLink(ctx, hash, now)
	switch {
	case errors.Is(err, ErrNotFound):
		return MagicLink{}, ErrMagicLinkInvalid
	case errors.Is(err, ErrAlreadyConsumed):
		return MagicLink{}, ErrMagicLinkUsed
	case err != nil:
		return MagicLink{}, fmt.Errorf("authn: consume magic link: %w", err)
	}
	if rec.Purpose != purpose {
		return MagicLink{}, fmt.Errorf("%w: purpose", ErrMagicLinkInvalid)
	}
	if !now.Before(rec.ExpiresAt) {
		return MagicLink{}, ErrMagicLinkExpired
	}
	// Read now, not at issue: an organisation that turned SSO on since
	// refuses the link (which stays burned).
	if err := m.checkPolicy(ctx, rec.Org); err != nil {
		return MagicLink{}, err
	}
	return MagicLink{Org: rec.Org, Email: rec.Email, Purpose: rec.Purpose, CreatedAt: rec.CreatedAt, ExpiresAt: rec.ExpiresAt}, nil
}

// checkPolicy refuses links of an organisation that requires SSO. It reads
// the policy of the empty organisation too (never enforced), so that every
// request costs the same round trips.
func (m *MagicLinks) checkPolicy(ctx context.Context, org string) error {
	pol, err := m.store.OrgPolicy(ctx, org)
	if err != nil {
		return fmt.Errorf("authn: magic link: policy: %w", err)
	}
	if org != "" && pol.PasswordLoginDisabled {
		return fmt.Errorf("%w: magic links are refused for this organisation", ErrSSORequired)
	}
	return nil
}

// Sweep deletes links that expired more than one rate-limit window ago
// (kept until then because they count against the limit), returning how
// many; run it periodically to keep the table small.
func (m *MagicLinks) Sweep(ctx context.Context) (int, error) {
	n, err := m.store.DeleteMagicLinksBefore(ctx, m.cfg.now().Add(-m.cfg.issueWindow))
	if err != nil {
		return n, fmt.Errorf("authn: sweep magic links: %w", err)
	}
	return n, nil
}
