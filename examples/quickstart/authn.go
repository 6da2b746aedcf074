package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/rampart-sdk/rampart/authn"
)

// authnChapter: passwords, an API key shown once, a single-use magic link and
// a session the user can see.
func authnChapter() chapter {
	return chapter{title: "authn: passwords, API keys, magic links, sessions", run: func(ctx context.Context, s *story) error {
		store := authn.NewMemoryStore()

		passwords, err := authn.NewPasswords()
		if err != nil {
			return err
		}
		hash, err := passwords.Hash(ctx, "correct horse battery staple")
		if err != nil {
			return err
		}
		s.say("password hashed with Argon2id (OWASP parameters): %s...", hash[:31])
		if _, err := passwords.Verify(ctx, "correct horse battery staple", hash); err != nil {
			return err
		}
		_, err = passwords.Verify(ctx, "Tr0ub4dor&3", hash)
		s.say("right password accepted; wrong one refused: %v", errors.Is(err, authn.ErrPasswordMismatch))

		// In production the pepper is keyring's *BlindIndex, held outside the database.
		pepper, err := authn.NewStaticPepper([]byte("quickstart pepper, 32 bytes min."))
		if err != nil {
			return err
		}
		keys, err := authn.NewAPIKeys(store, "atl_live", pepper, authn.WithClock(s.clock))
		if err != nil {
			return err
		}
		raw, key, err := keys.Create(ctx, authn.NewAPIKey{Org: "org_acme", Owner: "user_ann", Name: "ci", Scopes: []string{"invoices.read"}})
		if err != nil {
			return err
		}
		s.say("API key created (shown once; printing it shows only %v), prefix %q", raw, key.Prefix)
		verified, err := keys.Verify(ctx, raw.Reveal())
		if err != nil {
			return err
		}
		s.say("API key verified: org %s, scopes %v", verified.Org, verified.Scopes)
		_, err = keys.Verify(ctx, mistype(raw.Reveal()))
		s.say("a mistyped key is rejected by its checksum, before any lookup: %v", errors.Is(err, authn.ErrMalformedAPIKey))

		links, err := authn.NewMagicLinks(store, authn.WithClock(s.clock))
		if err != nil {
			return err
		}
		token, err := links.Issue(ctx, authn.MagicLinkRequest{Org: "org_acme", Email: "ann@example.com", Purpose: "login"})
		if err != nil {
			return err
		}
		link, err := links.Consume(ctx, token.Reveal(), "login")
		if err != nil {
			return err
		}
		s.say("magic link %v consumed: logs in %s", token, link.Email)
		_, err = links.Consume(ctx, token.Reveal(), "login")
		if !errors.Is(err, authn.ErrMagicLinkUsed) {
			return fmt.Errorf("second use of a magic link: want ErrMagicLinkUsed, got %v", err)
		}
		s.say("the same link clicked again: refused (%v)", err)

		sessions, err := authn.NewSessions(store, authn.WithClock(s.clock))
		if err != nil {
			return err
		}
		_, sess, err := sessions.Create(ctx, authn.NewSession{Org: "org_acme", UserID: "user_ann", Method: "magic_link",
			IP: "192.0.2.10", UserAgent: "Firefox"})
		if err != nil {
			return err
		}
		list, _, err := sessions.List(ctx, "org_acme", "user_ann", "", 0)
		if err != nil {
			return err
		}
		for _, l := range list {
			s.say("active session %s: via %s from %s (%s), expires %s", l.ID, l.Method, l.IP, l.UserAgent, l.ExpiresAt.Format("2006-01-02 15:04"))
		}
		if err := sessions.Revoke(ctx, "org_acme", "user_ann", sess.ID); err != nil {
			return err
		}
		list, _, err = sessions.List(ctx, "org_acme", "user_ann", "", 0)
		if err != nil {
			return err
		}
		s.say("after revoking it, %d active sessions remain", len(list))
		return nil
	}}
}

// mistype changes one character of the secret, as a user copying a key by
// hand might.
func mistype(key string) string {
	b := []byte(key)
	i := len(b) - 10
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}
