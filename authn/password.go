package authn

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

const (
	algArgon2id = "argon2id"
	algBcrypt   = "bcrypt"

	// MaxPasswordLength bounds the bytes of a password this package hashes
	// or verifies. A bound stops an attacker from making the server hash
	// megabytes per request; 1024 bytes is far above any passphrase.
	MaxPasswordLength = 1024

	// bcryptMaxPasswordLength is bcrypt's input limit. Longer passwords are
	// never truncated (a truncated hash would accept every password sharing
	// the first 72 bytes): Hash refuses them with ErrPasswordTooLong, and
	// Verify against a bcrypt hash reports ErrPasswordMismatch. Argon2id has
	// no such limit.
	bcryptMaxPasswordLength = 72

	// defaultBcryptCost is the bcrypt work factor used when bcrypt is chosen.
	defaultBcryptCost = 12

	// Argon2id ceilings, for stored hashes and configuration alike: a
	// tampered row (or a typo in a config) must not make one login allocate
	// gigabytes or run for minutes. The strongest published recommendations
	// are RFC 9106's second option (m=64 MiB, t=3, p=4: 192 MiB-passes) and
	// OWASP's largest configuration (m=46 MiB, t=1, p=1). The ceilings are
	// about four to five times the RFC's: memory 256 MiB, 16 passes, 16
	// lanes, and memory x passes at most 1 GiB (about a second of one core
	// here, against 30 ms for the default). RFC 9106's first option (2 GiB)
	// is refused: at that size a login endpoint is a denial of service.
	maxArgonMemoryKiB = 256 * 1024
	maxArgonTime      = 16
	maxArgonThreads   = 16
	maxArgonWorkKiB   = 1 << 20 // memory (KiB) x passes
	// maxBcryptCost bounds the bcrypt cost accepted from stored hashes and
	// configuration: each step doubles the work, and a tampered row at
	// bcrypt's own maximum (31) would keep a login busy for about a day.
	// Cost 16 is sixteen times the default, about four seconds.
	maxBcryptCost     = 16
	minArgonMemoryKiB = 7 * 1024 // OWASP's smallest listed configuration
)

// Argon2Params are the Argon2id cost parameters.
type Argon2Params struct {
	MemoryKiB uint32 // m, in KiB
	Time      uint32 // t, passes
	Threads   uint8  // p, lanes
	SaltLen   uint32 // bytes
	KeyLen    uint32 // bytes
}

// DefaultArgon2Params returns OWASP's Password Storage Cheat Sheet
// parameters for Argon2id: 19 MiB, 2 passes, 1 lane, with a 16-byte salt
// and 32-byte output. It is a function, not a variable, so no code in the
// process can weaken every hasher's defaults by assigning to it.
func DefaultArgon2Params() Argon2Params {
	return Argon2Params{MemoryKiB: 19 * 1024, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}
}

// WithArgon2id makes Passwords hash new passwords with Argon2id under p
// (NewPasswords; the default, with DefaultArgon2Params). Every parameter
// is bounded, and NewPasswords refuses one outside with ErrInvalidConfig:
// below OWASP's smallest configuration (m 7 MiB, t 1, p 1) or with a salt
// under 16 or output under 32 bytes (these also match ErrWeakParameters),
// or above the ceiling Verify accepts (m 256 MiB, t 16, p 16, memory x
// passes 1 GiB, salt 64 and output 128 bytes).
func WithArgon2id(p Argon2Params) PasswordsOption {
	return passwordsOpt(func(c *config) {
		const name = "WithArgon2id"
		if p.MemoryKiB < minArgonMemoryKiB || p.Time < 1 || p.Threads < 1 || p.SaltLen < 16 || p.KeyLen < 32 {
			c.invalid(name, "m=%d KiB t=%d p=%d salt=%d key=%d below the floor m=%d t=1 p=1 salt=16 key=32 (%w)",
				p.MemoryKiB, p.Time, p.Threads, p.SaltLen, p.KeyLen, minArgonMemoryKiB, ErrWeakParameters)
			return
		}
		if argonCostError(uint64(p.MemoryKiB), uint64(p.Time), uint64(p.Threads)) != nil || p.SaltLen > 64 || p.KeyLen > 128 {
			c.invalid(name, "m=%d KiB t=%d p=%d salt=%d key=%d above the ceiling m=%d t=%d p=%d m*t=%d salt=64 key=128",
				p.MemoryKiB, p.Time, p.Threads, p.SaltLen, p.KeyLen, maxArgonMemoryKiB, maxArgonTime, maxArgonThreads, maxArgonWorkKiB)
			return
		}
		c.passwordAlg, c.argon = algArgon2id, p
	})
}

// maxHashSlots bounds WithHashConcurrency: at the default parameters 256
// concurrent Argon2id hashes hold about 5 GiB.
const maxHashSlots = 256

// WithHashConcurrency bounds how many password hashes (Hash, Verify,
// VerifyUnknown, PasswordLogin.Check) one Passwords runs at once
// (NewPasswords; default GOMAXPROCS, one per CPU), from 1 to 256. Further
// calls wait for a slot, and give up with the context's error when it ends
// first, so a burst of logins queues instead of exhausting memory: each
// Argon2id hash holds its m KiB while it runs.
func WithHashConcurrency(n int) PasswordsOption {
	return passwordsOpt(func(c *config) {
		if c.checkInt("WithHashConcurrency", "hashes", n, 1, maxHashSlots) {
			c.hashSlots = n
		}
	})
}

// HashCostError reports a stored password hash whose cost parameters are
// above the ceiling Verify accepts (see WithArgon2id): a tampered row, or a
// hash from a system with unreasonable settings. It is refused without
// running the derivation. errors.Is(err, ErrMalformedHash) is true.
type HashCostError struct {
	Alg    string // "argon2id" or "bcrypt"
	Detail string // the parameter and its ceiling, e.g. "m=1048576 KiB above 262144"
}

// Error names the algorithm and the parameter, never the hash.
func (e *HashCostError) Error() string {
	return "authn: password hash refused: " + e.Alg + " " + e.Detail + " (tampered or unsupported)"
}

// Unwrap makes errors.Is(err, ErrMalformedHash) true.
func (e *HashCostError) Unwrap() error { return ErrMalformedHash }

// WithBcrypt makes Passwords hash new passwords with bcrypt at cost
// (NewPasswords), from 12 to 16: below is refused with ErrInvalidConfig and
// ErrWeakParameters, above with ErrInvalidConfig, as stored hashes above 16
// are refused when verifying. Passwords longer than 72 bytes are then
// refused with ErrPasswordTooLong.
func WithBcrypt(cost int) PasswordsOption {
	return passwordsOpt(func(c *config) {
		if cost < defaultBcryptCost {
			c.invalid("WithBcrypt", "cost %d outside [%d, %d] (%w)", cost, defaultBcryptCost, maxBcryptCost, ErrWeakParameters)
			return
		}
		if c.checkInt("WithBcrypt", "cost", cost, defaultBcryptCost, maxBcryptCost) {
			c.passwordAlg, c.bcryptCost = algBcrypt, cost
		}
	})
}

// Passwords hashes and verifies passwords. It keeps no state but its
// configuration and a semaphore bounding concurrent hashes
// (WithHashConcurrency), and is safe for concurrent use.
type Passwords struct {
	cfg   config
	slots chan struct{}

	dummyOnce sync.Once
	dummy     string
	dummyErr  error
}

// NewPasswords returns a password hasher: Argon2id with OWASP's parameters
// unless WithBcrypt or WithArgon2id says otherwise. Options: WithArgon2id,
// WithBcrypt, WithHashConcurrency.
func NewPasswords(opts ...PasswordsOption) (*Passwords, error) {
	cfg, err := configure("passwords", opts, PasswordsOption.applyPasswords)
	if err != nil {
		return nil, err
	}
	if cfg.passwordAlg == algBcrypt && cfg.testBcryptCost != 0 {
		cfg.bcryptCost = cfg.testBcryptCost
	}
	n := cfg.hashSlots
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	return &Passwords{cfg: cfg, slots: make(chan struct{}, n)}, nil
}

// acquire takes a hashing slot, or returns the context's error if it ends
// first.
func (p *Passwords) acquire(ctx context.Context) (release func(), err error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("authn: password hash: %w", err)
	}
	select {
	case p.slots <- struct{}{}:
		return func() { <-p.slots }, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("authn: password hash: waiting for a hashing slot: %w", ctx.Err())
	}
}

// argonCostError reports parameters above the ceiling, nil if within it.
func argonCostError(m, t, par uint64) error {
	bad := func(format string, args ...any) error {
		return &HashCostError{Alg: algArgon2id, Detail: fmt.Sprintf(format, args...)}
	}
	switch {
	case m > maxArgonMemoryKiB:
		return bad("m=%d KiB above %d", m, maxArgonMemoryKiB)
	case t > maxArgonTime:
		return bad("t=%d above %d", t, maxArgonTime)
	case par > maxArgonThreads:
		return bad("p=%d above %d", par, maxArgonThreads)
	case m*t > maxArgonWorkKiB:
		return bad("m*t=%d KiB above %d", m*t, maxArgonWorkKiB)
	}
	return nil
}

func checkLength(password string) error {
	if password == "" {
		return ErrEmptyPassword
	}
	if len(password) > MaxPasswordLength {
		return fmt.Errorf("%w: more than %d bytes", ErrPasswordTooLong, MaxPasswordLength)
	}
	return nil
}

// Hash returns the encoded hash of password under the configured algorithm:
// a PHC string ($argon2id$v=19$m=19456,t=2,p=1$salt$hash) or a bcrypt
// modular-crypt string ($2a$12$...). It waits for a hashing slot
// (WithHashConcurrency) and returns the context's error if ctx ends first.
func (p *Passwords) Hash(ctx context.Context, password string) (string, error) {
	if err := checkLength(password); err != nil {
		return "", err
	}
	release, err := p.acquire(ctx)
	if err != nil {
		return "", err
	}
	defer release()
	if p.cfg.passwordAlg == algBcrypt {
		if len(password) > bcryptMaxPasswordLength {
			return "", fmt.Errorf("%w: bcrypt accepts at most %d bytes", ErrPasswordTooLong, bcryptMaxPasswordLength)
		}
		h, err := bcrypt.GenerateFromPassword([]byte(password), p.cfg.bcryptCost)
		if err != nil {
			return "", fmt.Errorf("authn: bcrypt: %w", err)
		}
		return string(h), nil
	}
	salt := make([]byte, p.cfg.argon.SaltLen)
	_, _ = rand.Read(salt)
	return encodeArgon2id(password, salt, p.cfg.argon), nil
}

func encodeArgon2id(password string, salt []byte, a Argon2Params) string {
	key := argon2.IDKey([]byte(password), salt, a.Time, a.MemoryKiB, a.Threads, a.KeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, a.MemoryKiB, a.Time, a.Threads,
		b64.EncodeToString(salt), b64.EncodeToString(key))
}

// Verify checks password against an encoded hash (Argon2id PHC or bcrypt
// $2a$/$2b$/$2y$). It returns ErrPasswordMismatch for a wrong password. When
// the password matches, needsRehash reports that the hash uses another
// algorithm or weaker parameters than the configured ones: the host should
// then store Hash(password) while it still has the plaintext. A hash whose
// parameters are above the accepted ceiling fails with a *HashCostError
// before any work. Verify waits for a hashing slot (WithHashConcurrency) and
// returns the context's error if ctx ends first.
func (p *Passwords) Verify(ctx context.Context, password, encoded string) (needsRehash bool, err error) {
	if err := checkLength(password); err != nil {
		return false, err
	}
	return p.verify(ctx, password, encoded)
}

// VerifyUnknown runs the same code as Verify, against a dummy hash made with
// the configured parameters, and always returns ErrPasswordMismatch. Call it
// when the account does not exist, so that an unknown user costs the same
// time as a wrong password and login timing does not enumerate accounts.
func (p *Passwords) VerifyUnknown(ctx context.Context, password string) error {
	if err := checkLength(password); err != nil {
		return err
	}
	p.dummyOnce.Do(func() {
		var b [32]byte
		_, _ = rand.Read(b[:])
		// Made once per Passwords: the caller's cancellation must not
		// leave an error cached for every later caller.
		p.dummy, p.dummyErr = p.Hash(context.WithoutCancel(ctx), base64.RawStdEncoding.EncodeToString(b[:]))
	})
	if p.dummyErr != nil {
		return p.dummyErr
	}
	if _, err := p.verify(ctx, password, p.dummy); err != nil && !errors.Is(err, ErrPasswordMismatch) {
		return err
	}
	return ErrPasswordMismatch
}

func (p *Passwords) verify(ctx context.Context, password, encoded string) (bool, error) {
	switch {
	case strings.HasPrefix(encoded, "$argon2id$"):
		ph, err := parsePHC(encoded)
		if err != nil {
			return false, err
		}
		release, err := p.acquire(ctx)
		if err != nil {
			return false, err
		}
		defer release()
		p.observe(algArgon2id)
		got := argon2.IDKey([]byte(password), ph.salt, ph.params.Time, ph.params.MemoryKiB, ph.params.Threads, uint32(len(ph.key)))
		if subtle.ConstantTimeCompare(got, ph.key) != 1 {
			return false, ErrPasswordMismatch
		}
		a, c := ph.params, p.cfg.argon
		weaker := a.MemoryKiB < c.MemoryKiB || a.Time < c.Time || a.Threads < c.Threads ||
			len(ph.salt) < int(c.SaltLen) || len(ph.key) < int(c.KeyLen)
		return p.cfg.passwordAlg != algArgon2id || weaker, nil
	case isBcrypt(encoded):
		cost, err := bcrypt.Cost([]byte(encoded))
		if err != nil {
			return false, fmt.Errorf("%w: bcrypt", ErrMalformedHash)
		}
		if cost > maxBcryptCost {
			return false, &HashCostError{Alg: algBcrypt, Detail: fmt.Sprintf("cost %d above %d", cost, maxBcryptCost)}
		}
		release, err := p.acquire(ctx)
		if err != nil {
			return false, err
		}
		defer release()
		p.observe(algBcrypt)
		if len(password) > bcryptMaxPasswordLength {
			// bcrypt would only look at the first 72 bytes, so such a
			// password never matches: nothing is silently truncated. The
			// comparison still runs (its result discarded) and the error is
			// a mismatch, so neither timing nor the error tells an attacker
			// that this account has a bcrypt hash.
			_ = bcrypt.CompareHashAndPassword([]byte(encoded), []byte(password[:bcryptMaxPasswordLength]))
			return false, fmt.Errorf("%w: longer than bcrypt's %d bytes", ErrPasswordMismatch, bcryptMaxPasswordLength)
		}
		if err := bcrypt.CompareHashAndPassword([]byte(encoded), []byte(password)); err != nil {
			if errors.Is(err, bcrypt.ErrMismatchedHashAndPassword) {
				return false, ErrPasswordMismatch
			}
			return false, fmt.Errorf("%w: bcrypt", ErrMalformedHash)
		}
		return p.cfg.passwordAlg != algBcrypt || cost < p.cfg.bcryptCost, nil
	default:
		return false, fmt.Errorf("%w: unknown algorithm", ErrMalformedHash)
	}
}

func (p *Passwords) observe(alg string) {
	if p.cfg.hashObserver != nil {
		p.cfg.hashObserver(alg)
	}
}

func isBcrypt(s string) bool {
	return len(s) == 60 && (strings.HasPrefix(s, "$2a$") || strings.HasPrefix(s, "$2b$") || strings.HasPrefix(s, "$2y$"))
}

type phc struct {
	params Argon2Params
	salt   []byte
	key    []byte
}

// parsePHC decodes $argon2id$v=19$m=M,t=T,p=P$salt$hash with unpadded
// standard base64, within bounds that keep a tampered row from costing more
// than a legitimate strong hash.
func parsePHC(s string) (phc, error) {
	bad := func(what string) (phc, error) { return phc{}, fmt.Errorf("%w: argon2id %s", ErrMalformedHash, what) }
	if len(s) > 512 {
		return bad("too long")
	}
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != algArgon2id {
		return bad("layout")
	}
	if parts[2] != "v=19" {
		return bad("version")
	}
	var m, t, par uint64
	fields := strings.Split(parts[3], ",")
	if len(fields) != 3 {
		return bad("parameters")
	}
	for i, want := range []string{"m=", "t=", "p="} {
		v, ok := strings.CutPrefix(fields[i], want)
		if !ok || v == "" || (len(v) > 1 && v[0] == '0') {
			return bad("parameters")
		}
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return bad("parameters")
		}
		switch i {
		case 0:
			m = n
		case 1:
			t = n
		case 2:
			par = n
		}
	}
	if t < 1 || par < 1 || m < 8*par {
		return bad("parameters out of bounds")
	}
	if err := argonCostError(m, t, par); err != nil {
		return phc{}, err
	}
	b64 := base64.RawStdEncoding.Strict()
	salt, err := b64.DecodeString(parts[4])
	if err != nil || len(salt) < 8 || len(salt) > 64 {
		return bad("salt")
	}
	key, err := b64.DecodeString(parts[5])
	if err != nil || len(key) < 16 || len(key) > 128 {
		return bad("hash")
	}
	return phc{params: Argon2Params{MemoryKiB: uint32(m), Time: uint32(t), Threads: uint8(par), SaltLen: uint32(len(salt)), KeyLen: uint32(len(key))}, salt: salt, key: key}, nil
}
