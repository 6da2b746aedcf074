package tenant

import (
	"context"
	"fmt"
	"unicode/utf8"
)

// MaxOrgLen bounds an organisation ID in bytes: longer IDs are refused
// before they reach a database setting or a log line.
const MaxOrgLen = 256

type orgKey struct{}

// With returns ctx bound to organisation org. An invalid org (see Validate)
// is not bound: From on the result reports none, so a caller that ignored
// the validation still fails closed.
func With(ctx context.Context, org string) context.Context {
	if Validate(org) != nil {
		return context.WithValue(ctx, orgKey{}, "")
	}
	return context.WithValue(ctx, orgKey{}, org)
}

// From returns the organisation ctx is bound to, if any.
func From(ctx context.Context) (string, bool) {
	org, _ := ctx.Value(orgKey{}).(string)
	return org, org != ""
}

// Require returns the organisation ctx is bound to, or ErrNoOrg.
func Require(ctx context.Context) (string, error) {
	org, ok := From(ctx)
	if !ok {
		return "", ErrNoOrg
	}
	return org, nil
}

// Validate checks an organisation ID: 1 to MaxOrgLen bytes of UTF-8 without
// control characters. SQL metacharacters are allowed (the ID only ever
// travels as a bound parameter); a control character is not, because an ID
// is also written to logs.
func Validate(org string) error {
	if org == "" || len(org) > MaxOrgLen || !utf8.ValidString(org) {
		return fmt.Errorf("%w: must be 1 to %d bytes of UTF-8", ErrInvalidOrg, MaxOrgLen)
	}
	for _, r := range org {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return fmt.Errorf("%w: control character %U", ErrInvalidOrg, r)
		}
	}
	return nil
}
