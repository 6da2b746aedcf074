package authn

import "errors"

// ssoError is a refusal under an SSO policy that matches ErrSSORequired.
type ssoError struct{ msg string }

func (e *ssoError) Error() string { return e.msg }

func (e *ssoError) Is(target error) bool { return target == ErrSSORequired }

// Sentinel errors. Every error this package returns wraps one of them, so
// callers branch with errors.Is and never on message text. None of them ever
// carries a password, token, key or hash.
var (
	// ErrPasswordMismatch reports a wrong password, and also an unknown user
	// when the host calls VerifyUnknown, so the two cannot be told apart.
	ErrPasswordMismatch = errors.New("authn: password does not match")
	// ErrPasswordTooLong reports a password above MaxPasswordLength, or above
	// bcrypt's 72-byte limit when hashing with bcrypt: it is refused rather
	// than silently truncated. (Verifying such a password against a bcrypt
	// hash is ErrPasswordMismatch: it can never match.)
	ErrPasswordTooLong = errors.New("authn: password is too long")
	// ErrEmptyPassword reports an empty password.
	ErrEmptyPassword = errors.New("authn: password is empty")
	// ErrMalformedHash reports a stored password hash this package cannot
	// parse, or whose parameters are outside the accepted bounds.
	ErrMalformedHash = errors.New("authn: malformed password hash")
	// ErrWeakParameters reports hashing parameters below the accepted floor
	// (WithArgon2id, WithBcrypt). NewPasswords wraps it together with
	// ErrInvalidConfig.
	ErrWeakParameters = errors.New("authn: hashing parameters are too weak")
	// ErrSSORequired reports a login, or a session, refused because the
	// organisation requires single sign-on: a magic link requested or
	// consumed for it, a session of it created by any other method, and
	// (as ErrPasswordLoginDisabled, which matches it) a password login.
	ErrSSORequired = errors.New("authn: this organisation requires single sign-on")
	// ErrPasswordLoginDisabled reports a password login attempt for a member
	// of an organisation that requires single sign-on. errors.Is(err,
	// ErrSSORequired) is true for it as well.
	ErrPasswordLoginDisabled error = &ssoError{"authn: password login is disabled for this organisation (sso required)"}

	// ErrMalformedAPIKey reports a string that is not an API key of this
	// format or whose checksum does not match: it is rejected before any store
	// access.
	ErrMalformedAPIKey = errors.New("authn: malformed api key")
	// ErrInvalidAPIKey reports a well-formed key that is unknown or whose
	// secret does not match.
	ErrInvalidAPIKey = errors.New("authn: invalid api key")
	// ErrAPIKeyRevoked reports a key that was revoked.
	ErrAPIKeyRevoked = errors.New("authn: api key revoked")
	// ErrAPIKeyExpired reports a key past its expiry.
	ErrAPIKeyExpired = errors.New("authn: api key expired")

	// ErrMalformedToken reports a magic-link or session token that does not
	// have the expected shape.
	ErrMalformedToken = errors.New("authn: malformed token")
	// ErrMagicLinkInvalid reports an unknown magic link, or one issued for
	// another purpose.
	ErrMagicLinkInvalid = errors.New("authn: invalid magic link")
	// ErrMagicLinkUsed reports a magic link that was already consumed.
	ErrMagicLinkUsed = errors.New("authn: magic link already used")
	// ErrMagicLinkExpired reports a magic link past its expiry.
	ErrMagicLinkExpired = errors.New("authn: magic link expired")
	// ErrRateLimited reports too many magic links issued for one email in the
	// current window. MagicLinks.Issue wraps a *ThrottledError with it, so
	// errors.As finds the Retry-After.
	ErrRateLimited = errors.New("authn: too many magic links requested for this email")

	// ErrThrottled reports a login attempt refused because too many were
	// made for the account or from the client's address in the current
	// window. The error returned is a *ThrottledError carrying the wait.
	ErrThrottled = errors.New("authn: too many login attempts")

	// ErrSessionInvalid reports an unknown or revoked session token.
	ErrSessionInvalid = errors.New("authn: invalid session")
	// ErrSessionExpired reports a session past its idle or absolute timeout.
	ErrSessionExpired = errors.New("authn: session expired")

	// ErrInvalidArgument reports a call this package refuses before doing
	// anything: a nil store, a missing organisation or owner, a malformed
	// email or purpose, an expiry in the past. A host answers it with 400
	// (request input) or fixes its wiring (startup).
	ErrInvalidArgument = errors.New("authn: invalid argument")
	// ErrInvalidConfig reports a constructor's option outside its
	// documented range (a zero or negative duration, a magic-link TTL above
	// an hour, hashing parameters below the floor or above the ceiling, a
	// nil clock or recorder); authn/pgstore.New wraps it too. The message
	// names the option and the range. A host fixes its wiring.
	ErrInvalidConfig = errors.New("authn: invalid configuration")

	// ErrNotFound is returned by Store implementations for a missing row.
	ErrNotFound = errors.New("authn: not found")
	// ErrAlreadyConsumed is returned by Store.ConsumeMagicLink when the link
	// exists but was consumed before.
	ErrAlreadyConsumed = errors.New("authn: already consumed")
	// ErrConflict is returned by Store implementations when an insert collides
	// with an existing row.
	ErrConflict = errors.New("authn: conflict")
)
