package authn

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
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

	// BcryptMaxPasswordLength is bcrypt's input limit. Longer passwords are
	// never truncated (a truncated hash would accept every password sharing
	// the first 72 bytes): Hash refuses them with ErrPasswordTooLong, and
	// Verify against a bcrypt hash reports ErrPasswordMismatch. Argon2id has
	// no such limit.
	BcryptMaxPasswordLength = 72

	// DefaultBcryptCost is the bcrypt work factor used when bcrypt is chosen.
	DefaultBcryptCost = 12

	// argon2 bounds accepted from stored hashes, so a tampered row cannot make
	// verification allocate gigabytes or loop for minutes.
	maxArgonMemoryKiB = 1 << 20 // 1 GiB
	maxArgonTime      = 64
	maxArgonThreads   = 64
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
// (the default, with DefaultArgon2Params). Parameters below OWASP's smallest
// configuration (7 MiB) or with a salt under 16 or output under 32 bytes are
// refused by NewPasswords with ErrWeakParameters.
func WithArgon2id(p Argon2Params) Option {
	return func(c *config) { c.passwordAlg, c.argon = algArgon2id, p }
}

// WithBcrypt makes Passwords hash new passwords with bcrypt at cost (12 to
// 16; below is refused with ErrWeakParameters, above with
// ErrInvalidArgument, as stored hashes above 16 are refused when verifying).
// Passwords longer than 72 bytes are then refused with ErrPasswordTooLong.
func WithBcrypt(cost int) Option {
	return func(c *config) { c.passwordAlg, c.bcryptCost = algBcrypt, cost }
}

// Passwords hashes and verifies passwords. It keeps no state but its
// configuration and is safe for concurrent use.
type Passwords struct {
	cfg config

	dummyOnce sync.Once
	dummy     string
	dummyErr  error
}

// NewPasswords returns a password hasher: Argon2id with OWASP's parameters
// unless WithBcrypt or WithArgon2id says otherwise.
func NewPasswords(opts ...Option) (*Passwords, error) {
	cfg := newConfig(opts)
	switch cfg.passwordAlg {
	case algArgon2id:
		a := cfg.argon
		if a.MemoryKiB < minArgonMemoryKiB || a.Time < 1 || a.Threads < 1 || a.SaltLen < 16 || a.KeyLen < 32 {
			return nil, fmt.Errorf("%w: argon2id m=%d t=%d p=%d salt=%d key=%d", ErrWeakParameters, a.MemoryKiB, a.Time, a.Threads, a.SaltLen, a.KeyLen)
		}
		if a.MemoryKiB > maxArgonMemoryKiB || a.Time > maxArgonTime || a.Threads > maxArgonThreads || a.SaltLen > 64 || a.KeyLen > 128 {
			return nil, fmt.Errorf("%w: argon2id parameters above the accepted bounds", ErrInvalidArgument)
		}
	case algBcrypt:
		if cfg.bcryptCost < DefaultBcryptCost {
			return nil, fmt.Errorf("%w: bcrypt cost %d (want %d..%d)", ErrWeakParameters, cfg.bcryptCost, DefaultBcryptCost, maxBcryptCost)
		}
		if cfg.bcryptCost > maxBcryptCost {
			return nil, fmt.Errorf("%w: bcrypt cost %d (want %d..%d)", ErrInvalidArgument, cfg.bcryptCost, DefaultBcryptCost, maxBcryptCost)
		}
		if cfg.testBcryptCost != 0 {
			cfg.bcryptCost = cfg.testBcryptCost
		}
	}
	return &Passwords{cfg: cfg}, nil
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
// modular-crypt string ($2a$12$...).
func (p *Passwords) Hash(password string) (string, error) {
	if err := checkLength(password); err != nil {
		return "", err
	}
	if p.cfg.passwordAlg == algBcrypt {
		if len(password) > BcryptMaxPasswordLength {
			return "", fmt.Errorf("%w: bcrypt accepts at most %d bytes", ErrPasswordTooLong, BcryptMaxPasswordLength)
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
// then store Hash(password) while it still has the plaintext.
func (p *Passwords) Verify(password, encoded string) (needsRehash bool, err error) {
	if err := checkLength(password); err != nil {
		return false, err
	}
	return p.verify(password, encoded)
}

// VerifyUnknown runs the same code as Verify, against a dummy hash made with
// the configured parameters, and always returns ErrPasswordMismatch. Call it
// when the account does not exist, so that an unknown user costs the same
// time as a wrong password and login timing does not enumerate accounts.
func (p *Passwords) VerifyUnknown(password string) error {
	if err := checkLength(password); err != nil {
		return err
	}
	p.dummyOnce.Do(func() {
		var b [32]byte
		_, _ = rand.Read(b[:])
		p.dummy, p.dummyErr = p.Hash(base64.RawStdEncoding.EncodeToString(b[:]))
	})
	if p.dummyErr != nil {
		return p.dummyErr
	}
	if _, err := p.verify(password, p.dummy); err != nil && !errors.Is(err, ErrPasswordMismatch) {
		return err
	}
	return ErrPasswordMismatch
}

func (p *Passwords) verify(password, encoded string) (bool, error) {
	switch {
	case strings.HasPrefix(encoded, "$argon2id$"):
		ph, err := parsePHC(encoded)
		if err != nil {
			return false, err
		}
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
			return false, fmt.Errorf("%w: bcrypt cost %d above %d", ErrMalformedHash, cost, maxBcryptCost)
		}
		p.observe(algBcrypt)
		if len(password) > BcryptMaxPasswordLength {
			// bcrypt would only look at the first 72 bytes, so such a
			// password never matches: nothing is silently truncated. The
			// comparison still runs (its result discarded) and the error is
			// a mismatch, so neither timing nor the error tells an attacker
			// that this account has a bcrypt hash.
			_ = bcrypt.CompareHashAndPassword([]byte(encoded), []byte(password[:BcryptMaxPasswordLength]))
			return false, fmt.Errorf("%w: longer than bcrypt's %d bytes", ErrPasswordMismatch, BcryptMaxPasswordLength)
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
	if t < 1 || t > maxArgonTime || par < 1 || par > maxArgonThreads || m < 8*par || m > maxArgonMemoryKiB {
		return bad("parameters out of bounds")
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
