package mfa_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image/png"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"crypto/rand"

	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/internal/testclock"
	"github.com/rampart-sdk/rampart/mfa"
	"github.com/rampart-sdk/rampart/mfa/mfatest"
)

var ctx = context.Background()

type clock = testclock.Clock

func newClock() *clock { return testclock.New(time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)) }

// countingSealer counts Open calls, to prove a locked account's code is not
// even evaluated.
type countingSealer struct {
	mfa.Sealer
	opens atomic.Int32
}

func (s *countingSealer) Open(rowID string, ct []byte) ([]byte, error) {
	s.opens.Add(1)
	return s.Sealer.Open(rowID, ct)
}

type harness struct {
	m      *mfa.Manager
	store  mfa.Store
	sealer *countingSealer
	clock  *clock
	rec    *mfatest.Recorder
	acct   mfa.Account
	secret []byte
	alg    mfa.Algorithm
	digits int
}

func newHarness(t *testing.T, opts ...mfa.ManagerOption) *harness {
	t.Helper()
	h := &harness{store: mfa.NewMemoryStore(), sealer: &countingSealer{Sealer: mfatest.NewSealer()},
		clock: newClock(), rec: &mfatest.Recorder{}, alg: mfa.SHA1, digits: 6,
		acct: mfa.Account{Org: "org_1", User: "u_ada", Kind: mfa.KindMember}}
	opts = append([]mfa.ManagerOption{mfa.WithClock(h.clock.Now), mfa.WithRecorder(h.rec)}, opts...)
	m, err := mfa.New("Acme", h.store, h.sealer, opts...)
	require.NoError(t, err)
	h.m = m
	return h
}

// enrol begins and confirms an enrolment, returning the recovery codes.
func (h *harness) enrol(t *testing.T) *mfa.RecoveryCodes {
	t.Helper()
	setup, err := h.m.Begin(ctx, h.acct, "ada@example.com")
	require.NoError(t, err)
	h.secret = mfatest.SecretOf(t, setup)
	codes, err := h.m.Confirm(ctx, h.acct, h.code(t, 0))
	require.NoError(t, err)
	return codes
}

// code is what the user's app shows at now + offset steps.
func (h *harness) code(t *testing.T, offset int) string {
	t.Helper()
	c, err := mfa.TOTP(h.secret, h.clock.Now().Add(time.Duration(offset)*mfa.Period), h.alg, h.digits)
	require.NoError(t, err)
	return c
}

func TestEnrolmentIsPendingUntilConfirmed(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	setup, err := h.m.Begin(ctx, h.acct, "ada@example.com")
	require.NoError(t, err)
	h.secret = mfatest.SecretOf(t, setup)
	require.Len(t, h.secret, 20)

	u, err := url.Parse(setup.URI())
	require.NoError(t, err)
	require.Equal(t, "otpauth", u.Scheme)
	require.Equal(t, "totp", u.Host)
	require.Equal(t, "/Acme:ada@example.com", u.Path)
	q := u.Query()
	require.Equal(t, setup.Secret(), q.Get("secret"))
	require.Equal(t, "Acme", q.Get("issuer"))
	require.Equal(t, "SHA1", q.Get("algorithm"))
	require.Equal(t, "6", q.Get("digits"))
	require.Equal(t, "30", q.Get("period"))
	require.NotContains(t, setup.String(), setup.Secret())

	pngBytes, err := setup.PNG(256)
	require.NoError(t, err)
	img, err := png.Decode(bytes.NewReader(pngBytes))
	require.NoError(t, err)
	require.Equal(t, 256, img.Bounds().Dx())
	_, err = setup.PNG(16)
	require.ErrorIs(t, err, mfa.ErrInvalidConfig)
	_, err = setup.PNG(1 << 20)
	require.ErrorIs(t, err, mfa.ErrInvalidConfig)
	_, err = h.m.Begin(ctx, mfa.Account{Org: "org_1", User: "u_eve"}, "Evil:eve@example.com")
	require.ErrorIs(t, err, mfa.ErrInvalidConfig, "a colon would forge the issuer in the label")

	// Stored sealed, bound to the account.
	e, err := h.store.Enrollment(ctx, "org_1", "u_ada")
	require.NoError(t, err)
	require.False(t, bytes.Contains(e.SealedSecret, h.secret), "secret stored in plain text")
	_, err = h.sealer.Open("u_eve", e.SealedSecret)
	require.Error(t, err, "a sealed secret moved to another row must not open")

	st, err := h.m.Status(ctx, h.acct)
	require.NoError(t, err)
	require.Equal(t, mfa.Status{Pending: true}, st)
	require.ErrorIs(t, h.m.Verify(ctx, h.acct, h.code(t, 0)), mfa.ErrNotEnrolled, "a pending enrolment cannot log in")
	_, err = h.m.Confirm(ctx, h.acct, "000000")
	if h.code(t, 0) != "000000" && h.code(t, -1) != "000000" && h.code(t, 1) != "000000" {
		require.ErrorIs(t, err, mfa.ErrInvalidCode)
	}

	codes, err := h.m.Confirm(ctx, h.acct, h.code(t, 0))
	require.NoError(t, err)
	require.Len(t, codes.Codes(), mfa.RecoveryCodeCount)
	require.Equal(t, []string{mfa.ActionEnrolled}, h.rec.Actions())
	_, err = h.m.Confirm(ctx, h.acct, h.code(t, 1))
	require.ErrorIs(t, err, mfa.ErrAlreadyEnrolled)
	_, err = h.m.Begin(ctx, h.acct, "ada@example.com")
	require.ErrorIs(t, err, mfa.ErrAlreadyEnrolled, "a session cannot swap the authenticator without a reset")

	require.ErrorIs(t, h.m.Verify(ctx, h.acct, h.code(t, 0)), mfa.ErrCodeReused, "the confirming code cannot log in again")
	require.NoError(t, h.m.Verify(ctx, h.acct, h.code(t, 1)))
}

func TestConfirmRacedOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	setup, err := h.m.Begin(ctx, h.acct, "ada@example.com")
	require.NoError(t, err)
	h.secret = mfatest.SecretOf(t, setup)
	code := h.code(t, 0)
	var wins atomic.Int32
	var wg sync.WaitGroup
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := h.m.Confirm(ctx, h.acct, code)
			if err == nil {
				wins.Add(1)
				return
			}
			if !errors.Is(err, mfa.ErrNotPending) && !errors.Is(err, mfa.ErrAlreadyEnrolled) {
				t.Errorf("unexpected %v", err)
			}
		}()
	}
	wg.Wait()
	require.Equal(t, int32(1), wins.Load(), "one enrolment, one set of recovery codes")
}

func TestRestartedEnrolmentInvalidatesTheOldSecret(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	first, err := h.m.Begin(ctx, h.acct, "ada@example.com")
	require.NoError(t, err)
	second, err := h.m.Begin(ctx, h.acct, "ada@example.com")
	require.NoError(t, err)
	require.NotEqual(t, first.Secret(), second.Secret())
	h.secret = mfatest.SecretOf(t, first)
	old := h.code(t, 0)
	h.secret = mfatest.SecretOf(t, second)
	if old != h.code(t, 0) && old != h.code(t, 1) && old != h.code(t, -1) {
		_, err = h.m.Confirm(ctx, h.acct, old)
		require.ErrorIs(t, err, mfa.ErrInvalidCode)
	}
	_, err = h.m.Confirm(ctx, h.acct, h.code(t, 0))
	require.NoError(t, err)
}

// TestRFC6238ThroughTheAPI enrols with the RFC's seeds as secrets, confirms
// at the first vector's time and verifies every later vector.
func TestRFC6238ThroughTheAPI(t *testing.T) {
	t.Parallel()
	seeds := map[mfa.Algorithm]string{
		mfa.SHA1:   "12345678901234567890",
		mfa.SHA256: "12345678901234567890123456789012",
		mfa.SHA512: "1234567890123456789012345678901234567890123456789012345678901234",
	}
	vectors := []struct {
		unix  int64
		codes map[mfa.Algorithm]string
	}{
		{59, map[mfa.Algorithm]string{mfa.SHA1: "94287082", mfa.SHA256: "46119246", mfa.SHA512: "90693936"}},
		{1111111109, map[mfa.Algorithm]string{mfa.SHA1: "07081804", mfa.SHA256: "68084774", mfa.SHA512: "25091201"}},
		{1111111111, map[mfa.Algorithm]string{mfa.SHA1: "14050471", mfa.SHA256: "67062674", mfa.SHA512: "99943326"}},
		{1234567890, map[mfa.Algorithm]string{mfa.SHA1: "89005924", mfa.SHA256: "91819424", mfa.SHA512: "93441116"}},
		{2000000000, map[mfa.Algorithm]string{mfa.SHA1: "69279037", mfa.SHA256: "90698825", mfa.SHA512: "38618901"}},
		{20000000000, map[mfa.Algorithm]string{mfa.SHA1: "65353130", mfa.SHA256: "77737706", mfa.SHA512: "47863826"}},
	}
	for alg, seed := range seeds {
		t.Run(string(alg), func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, mfa.WithAlgorithmForTest(alg), mfa.WithDigits(8),
				mfa.WithRandForTest(io.MultiReader(strings.NewReader(seed), rand.Reader)))
			setup, err := h.m.Begin(ctx, h.acct, "ada@example.com")
			require.NoError(t, err)
			require.Equal(t, []byte(seed), mfatest.SecretOf(t, setup))
			require.Contains(t, setup.URI(), "algorithm="+string(alg))
			require.Contains(t, setup.URI(), "digits=8")
			for i, v := range vectors {
				h.clock.Set(time.Unix(v.unix, 0))
				if i == 0 {
					_, err := h.m.Confirm(ctx, h.acct, v.codes[alg])
					require.NoError(t, err)
					continue
				}
				require.NoError(t, h.m.Verify(ctx, h.acct, v.codes[alg]), "at %d", v.unix)
				require.ErrorIs(t, h.m.Verify(ctx, h.acct, v.codes[alg]), mfa.ErrCodeReused)
			}
		})
	}
}

// TestOathtoolCodesAccepted checks interoperability with an independent
// implementation: Debian's oathtool.
func TestOathtoolCodesAccepted(t *testing.T) {
	t.Parallel()
	bin, err := exec.LookPath("oathtool")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("oathtool is required in CI (apt-get install oathtool)")
		}
		t.Skip("oathtool not installed")
	}
	for _, tc := range []struct {
		alg    mfa.Algorithm
		digits int
		flag   string
	}{{mfa.SHA1, 6, "--totp"}, {mfa.SHA256, 8, "--totp=sha256"}, {mfa.SHA512, 6, "--totp=sha512"}} {
		t.Run(fmt.Sprintf("%s-%d", tc.alg, tc.digits), func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, mfa.WithAlgorithmForTest(tc.alg), mfa.WithDigits(tc.digits))
			setup, err := h.m.Begin(ctx, h.acct, "ada@example.com")
			require.NoError(t, err)
			oath := func(at time.Time) string {
				out, err := exec.Command(bin, tc.flag, "-d", strconv.Itoa(tc.digits), "-b", setup.Secret(),
					"-N", "@"+strconv.FormatInt(at.Unix(), 10)).Output()
				require.NoError(t, err)
				return strings.TrimSpace(string(out))
			}
			_, err = h.m.Confirm(ctx, h.acct, oath(h.clock.Now()))
			require.NoError(t, err)
			for range 3 {
				h.clock.Advance(7 * time.Minute)
				require.NoError(t, h.m.Verify(ctx, h.acct, oath(h.clock.Now())))
			}
			// A code oathtool makes for 30 s ahead is within the skew.
			require.NoError(t, h.m.Verify(ctx, h.acct, oath(h.clock.Now().Add(mfa.Period))))
		})
	}
}

func TestReplayWithinWindowRejected(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.enrol(t)
	h.clock.Advance(time.Minute)
	code := h.code(t, 0)
	require.NoError(t, h.m.Verify(ctx, h.acct, code))
	err := h.m.Verify(ctx, h.acct, code)
	require.ErrorIs(t, err, mfa.ErrInvalidCode)
	require.ErrorIs(t, err, mfa.ErrCodeReused)
	require.NotContains(t, err.Error(), code, "errors never echo the code")
	h.clock.Advance(mfa.Period) // the code is now the previous step, still within skew
	require.ErrorIs(t, h.m.Verify(ctx, h.acct, code), mfa.ErrCodeReused)
	require.ErrorIs(t, h.m.Verify(ctx, h.acct, "123 45x"), mfa.ErrInvalidCode)
}

func TestEarlierStepAfterLaterRejected(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.enrol(t)
	h.clock.Advance(time.Minute)
	early, current, later := h.code(t, -1), h.code(t, 0), h.code(t, 1)
	require.NoError(t, h.m.Verify(ctx, h.acct, later), "one step of skew ahead is accepted")
	require.ErrorIs(t, h.m.Verify(ctx, h.acct, current), mfa.ErrCodeReused)
	require.ErrorIs(t, h.m.Verify(ctx, h.acct, early), mfa.ErrCodeReused)
}

func TestSkewBeyondOneStepRejected(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.enrol(t)
	h.clock.Advance(time.Hour)
	for _, off := range []int{-2, 2, -10} {
		c := h.code(t, off)
		if c == h.code(t, -1) || c == h.code(t, 0) || c == h.code(t, 1) {
			continue // a one-in-a-million coincidence
		}
		require.ErrorIs(t, h.m.Verify(ctx, h.acct, c), mfa.ErrInvalidCode, "offset %d", off)
	}
	require.NoError(t, h.m.Verify(ctx, h.acct, h.code(t, -1)))
}

func TestSameCodeRacedByGoroutines(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.enrol(t)
	for round := range 5 {
		h.clock.Advance(16 * time.Minute) // replays count as failures; let them expire
		code := h.code(t, 0)
		var wins, reused atomic.Int32
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				err := h.m.Verify(ctx, h.acct, code)
				switch {
				case err == nil:
					wins.Add(1)
				case errors.Is(err, mfa.ErrCodeReused):
					reused.Add(1)
				default:
					t.Errorf("round %d: %v", round, err)
				}
			}()
		}
		close(start)
		wg.Wait()
		require.Equal(t, int32(1), wins.Load(), "round %d", round)
		require.Equal(t, int32(3), reused.Load(), "round %d", round)
	}
}

func TestBruteForceLocksAndHidesTheAnswer(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.enrol(t)
	h.clock.Advance(time.Minute)
	right := h.code(t, 0)
	wrong := "000000"
	for wrong == right || wrong == h.code(t, -1) || wrong == h.code(t, 1) {
		wrong = "111111"
	}
	for i := range 5 {
		require.ErrorIs(t, h.m.Verify(ctx, h.acct, wrong), mfa.ErrInvalidCode, "failure %d", i+1)
		h.clock.Advance(10 * time.Second)
	}
	opens := h.sealer.opens.Load()
	errWrong := h.m.Verify(ctx, h.acct, wrong)
	errRight := h.m.Verify(ctx, h.acct, right)
	var tm *mfa.TooManyAttemptsError
	require.ErrorAs(t, errWrong, &tm)
	require.ErrorIs(t, errRight, mfa.ErrTooManyAttempts)
	require.Equal(t, errWrong, errRight, "the locked answer is identical for right and wrong codes")
	require.Equal(t, errWrong.Error(), errRight.Error())
	require.Equal(t, 15*time.Minute-50*time.Second, tm.RetryAfter)
	require.Equal(t, opens, h.sealer.opens.Load(), "a locked account's code is never evaluated")
	require.ErrorIs(t, h.m.UseRecoveryCode(ctx, h.acct, "aaaa-aaaa-aaaa-aaaa"), mfa.ErrTooManyAttempts, "recovery codes share the limit")

	// Another account is unaffected.
	other := newHarness(t)
	other.store, other.m, other.clock = h.store, h.m, h.clock
	other.acct.User = "u_bob"
	other.enrol(t)
	require.NoError(t, other.m.Verify(ctx, other.acct, other.code(t, 1)), "another account is not locked")

	h.clock.Advance(tm.RetryAfter)
	require.NoError(t, h.m.Verify(ctx, h.acct, h.code(t, 0)), "after the window the right code works")
	require.ErrorIs(t, h.m.Verify(ctx, h.acct, wrong), mfa.ErrInvalidCode, "a success clears the failures")
}

func TestConcurrentGuessesBounded(t *testing.T) {
	t.Parallel()
	h := newHarness(t, mfa.WithAttemptLimit(3, time.Hour))
	h.enrol(t)
	h.clock.Advance(time.Minute)
	var evaluated, locked atomic.Int32
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := h.m.Verify(ctx, h.acct, fmt.Sprintf("%06d", i*7919%1000000))
			if errors.Is(err, mfa.ErrTooManyAttempts) {
				locked.Add(1)
			} else {
				evaluated.Add(1)
			}
		}()
	}
	wg.Wait()
	require.LessOrEqual(t, evaluated.Load(), int32(3), "at most the limit is ever evaluated, even concurrently")
	require.Equal(t, int32(40), evaluated.Load()+locked.Load())
}

func TestRecoveryCodes(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	codes := h.enrol(t).Codes()
	require.Len(t, codes, 10)
	seen := map[string]bool{}
	for _, c := range codes {
		require.Regexp(t, `^[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}$`, c)
		require.False(t, seen[c])
		seen[c] = true
	}
	left, err := h.m.RecoveryCodesLeft(ctx, h.acct)
	require.NoError(t, err)
	require.Equal(t, 10, left)

	require.NoError(t, h.m.UseRecoveryCode(ctx, h.acct, strings.ToUpper(strings.ReplaceAll(codes[0], "-", " "))))
	require.ErrorIs(t, h.m.UseRecoveryCode(ctx, h.acct, codes[0]), mfa.ErrInvalidCode, "a used recovery code fails")
	st, err := h.m.Status(ctx, h.acct)
	require.NoError(t, err)
	require.Equal(t, mfa.Status{Enrolled: true, RecoveryCodesLeft: 9}, st)

	// Another account's code is useless here.
	bob := mfa.Account{Org: "org_1", User: "u_bob", Kind: mfa.KindMember}
	setup, err := h.m.Begin(ctx, bob, "bob@example.com")
	require.NoError(t, err)
	bobCode, err := mfa.TOTP(mfatest.SecretOf(t, setup), h.clock.Now(), mfa.SHA1, 6)
	require.NoError(t, err)
	bobCodes, err := h.m.Confirm(ctx, bob, bobCode)
	require.NoError(t, err)
	require.ErrorIs(t, h.m.UseRecoveryCode(ctx, h.acct, bobCodes.Codes()[0]), mfa.ErrInvalidCode)

	// Raced: exactly one use wins.
	var wins atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if h.m.UseRecoveryCode(ctx, h.acct, codes[1]) == nil {
				wins.Add(1)
			}
		}()
	}
	wg.Wait()
	require.Equal(t, int32(1), wins.Load())

	h.clock.Advance(time.Hour)
	fresh, err := h.m.RegenerateRecoveryCodes(ctx, h.acct)
	require.NoError(t, err)
	require.ErrorIs(t, h.m.UseRecoveryCode(ctx, h.acct, codes[2]), mfa.ErrInvalidCode, "regenerating invalidates old codes")
	left, err = h.m.RecoveryCodesLeft(ctx, h.acct)
	require.NoError(t, err)
	require.Equal(t, 10, left)
	require.NoError(t, h.m.UseRecoveryCode(ctx, h.acct, fresh.Codes()[9]))
	require.Contains(t, h.rec.Actions(), mfa.ActionRecoveryCodeUsed)
	require.Contains(t, h.rec.Actions(), mfa.ActionRecoveryCodesRegenerated)
}

func TestRecoveryCodesNeedAConfirmedEnrolment(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	require.ErrorIs(t, h.m.UseRecoveryCode(ctx, h.acct, "aaaa-aaaa-aaaa-aaaa"), mfa.ErrNotEnrolled)
	_, err := h.m.RegenerateRecoveryCodes(ctx, h.acct)
	require.ErrorIs(t, err, mfa.ErrNotEnrolled)
	_, err = h.m.Begin(ctx, h.acct, "ada@example.com")
	require.NoError(t, err)
	require.ErrorIs(t, h.m.UseRecoveryCode(ctx, h.acct, "aaaa-aaaa-aaaa-aaaa"), mfa.ErrNotEnrolled, "pending")
	_, err = h.m.RegenerateRecoveryCodes(ctx, h.acct)
	require.ErrorIs(t, err, mfa.ErrNotEnrolled)
	left, err := h.m.RecoveryCodesLeft(ctx, h.acct)
	require.NoError(t, err)
	require.Zero(t, left)
}

func TestSecretsRedacted(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	setup, err := h.m.Begin(ctx, h.acct, "ada@example.com")
	require.NoError(t, err)
	h.secret = mfatest.SecretOf(t, setup)
	codes, err := h.m.Confirm(ctx, h.acct, h.code(t, 0))
	require.NoError(t, err)
	var logBuf bytes.Buffer
	slog.New(slog.NewJSONHandler(&logBuf, nil)).Info("enrol", "setup", setup, "codes", codes)
	js, err := json.Marshal(map[string]any{"setup": setup, "codes": codes, "setup_value": *setup, "codes_value": *codes})
	require.NoError(t, err)
	for _, out := range []string{
		fmt.Sprint(setup), fmt.Sprintf("%v %+v %#v %s %q", setup, setup, setup, setup, setup),
		setup.String(), codes.String(),
		fmt.Sprintf("%v %+v %#v %s", codes, codes, codes, codes),
		// A dereferenced value must redact itself too.
		fmt.Sprintf("%v %+v %#v %s %x", *setup, *setup, *setup, *setup, *setup),
		fmt.Sprintf("%v %+v %#v %s %x", *codes, *codes, *codes, *codes, *codes),
		string(js), logBuf.String(),
	} {
		require.NotContains(t, out, setup.Secret())
		for _, c := range codes.Codes() {
			require.NotContains(t, out, c)
			require.NotContains(t, out, strings.ReplaceAll(c, "-", ""))
		}
	}
	require.Contains(t, fmt.Sprint(setup), "REDACTED")
}

func TestEnforcement(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for _, tc := range []struct {
		kind     mfa.Kind
		orgRule  bool
		required bool
	}{
		{mfa.KindMember, false, false},
		{mfa.KindMember, true, true},
		{mfa.KindStaff, false, true},
		{mfa.KindAffiliate, false, true},
		{mfa.Kind(""), false, true},
		{mfa.Kind("Staff"), false, true},
	} {
		org := fmt.Sprintf("org_%s_%v", tc.kind, tc.orgRule)
		require.NoError(t, h.m.SetOrgPolicy(ctx, "user:admin", org, tc.orgRule))
		acct := mfa.Account{Org: org, User: "u_1", Kind: tc.kind}
		challenge, err := h.m.CheckLogin(ctx, acct)
		require.False(t, challenge)
		if tc.required {
			require.ErrorIs(t, err, mfa.ErrEnrollmentRequired, "%q org rule %v", tc.kind, tc.orgRule)
		} else {
			require.NoError(t, err)
		}
	}
	h.acct.Kind = mfa.KindStaff
	h.enrol(t)
	challenge, err := h.m.CheckLogin(ctx, h.acct)
	require.NoError(t, err)
	require.True(t, challenge, "an enrolled account is challenged")
}

func TestResetIsAudited(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.enrol(t)
	h.rec.Fail = errors.New("audit log down")
	require.Error(t, h.m.Reset(ctx, "user:admin", h.acct, "lost phone"))
	st, err := h.m.Status(ctx, h.acct)
	require.NoError(t, err)
	require.True(t, st.Enrolled, "no unaudited reset")

	h.rec.Fail = nil
	require.NoError(t, h.m.Reset(ctx, "user:admin", h.acct, "lost phone"))
	last := h.rec.Entries[len(h.rec.Entries)-1]
	require.Equal(t, mfatest.Entry{Org: "org_1", Actor: "user:admin", Action: mfa.ActionReset, Target: "user:u_ada",
		Payload: map[string]any{"reason": "lost phone"}}, last)
	st, err = h.m.Status(ctx, h.acct)
	require.NoError(t, err)
	require.Equal(t, mfa.Status{}, st)
	h.clock.Advance(time.Minute)
	h.enrol(t) // can enrol again

	bare, err := mfa.New("Acme", mfa.NewMemoryStore(), mfatest.NewSealer())
	require.NoError(t, err)
	require.ErrorIs(t, bare.Reset(ctx, "user:admin", h.acct, ""), mfa.ErrNoRecorder)
	require.ErrorIs(t, bare.SetOrgPolicy(ctx, "user:admin", "org_1", true), mfa.ErrNoRecorder)

	require.ElementsMatch(t, []string{mfa.ActionEnrolled, mfa.ActionReset, mfa.ActionPolicyChanged,
		mfa.ActionRecoveryCodeUsed, mfa.ActionRecoveryCodesRegenerated}, mfa.AuditActions())
	for _, a := range h.rec.Actions() {
		require.Contains(t, mfa.AuditActions(), a)
	}
}

func TestNewRejectsUnsafeConfig(t *testing.T) {
	t.Parallel()
	s, k := mfa.NewMemoryStore(), mfatest.NewSealer()
	for name, tc := range map[string]struct {
		issuer string
		store  mfa.Store
		sealer mfa.Sealer
		opts   []mfa.ManagerOption
	}{
		"no issuer":    {"", s, k, nil},
		"colon issuer": {"Acme:Evil", s, k, nil},
		"no store":     {"Acme", nil, k, nil},
		"no sealer":    {"Acme", s, nil, nil},
		"md5":          {"Acme", s, k, []mfa.ManagerOption{mfa.WithAlgorithmForTest("MD5")}},
		"7 digits":     {"Acme", s, k, []mfa.ManagerOption{mfa.WithDigits(7)}},
		"no limit":     {"Acme", s, k, []mfa.ManagerOption{mfa.WithAttemptLimit(0, time.Hour)}},
		"huge limit":   {"Acme", s, k, []mfa.ManagerOption{mfa.WithAttemptLimit(1000, time.Hour)}},
		"short window": {"Acme", s, k, []mfa.ManagerOption{mfa.WithAttemptLimit(5, time.Second)}},
		"nil clock":    {"Acme", s, k, []mfa.ManagerOption{mfa.WithClock(nil)}},
		"nil recorder": {"Acme", s, k, []mfa.ManagerOption{mfa.WithRecorder(nil)}},
		"long window":  {"Acme", s, k, []mfa.ManagerOption{mfa.WithAttemptLimit(5, 48*time.Hour)}},
		"nil option":   {"Acme", s, k, []mfa.ManagerOption{nil}},
		"nil rand":     {"Acme", s, k, []mfa.ManagerOption{mfa.WithRandForTest(nil)}},
	} {
		_, err := mfa.New(tc.issuer, tc.store, tc.sealer, tc.opts...)
		require.ErrorIs(t, err, mfa.ErrInvalidConfig, name)
	}
}

// TestSealedSecretBoundToItsAccount: someone with write access to the table
// moves an enrolment row (their own authenticator's secret) to the same user
// ID in another organisation. The secret does not open there, so the moved
// row is useless.
func TestSealedSecretBoundToItsAccount(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.enrol(t)
	e, err := h.store.Enrollment(ctx, h.acct.Org, h.acct.User)
	require.NoError(t, err)
	victim := mfa.Account{Org: "org_2", User: h.acct.User, Kind: mfa.KindStaff}
	moved := e
	moved.Org = victim.Org
	require.NoError(t, h.store.BeginEnrollment(ctx, moved))
	require.NoError(t, h.store.ConfirmEnrollment(ctx, victim.Org, victim.User, e.ID, e.LastStep, h.clock.Now(), h.clock.Now(), 5, nil))
	h.clock.Advance(time.Minute)
	err = h.m.Verify(ctx, victim, h.code(t, 0))
	require.Error(t, err)
	require.NotErrorIs(t, err, mfa.ErrInvalidCode, "the secret must not even open")
	require.NoError(t, h.m.Verify(ctx, h.acct, h.code(t, 0)), "the original account is unaffected")
}

// hookSealer runs hook once, right after the next Open: between Verify's
// read of the enrolment and its replay guard.
type hookSealer struct {
	mfa.Sealer
	hook func()
}

func (s *hookSealer) Open(rowID string, ct []byte) ([]byte, error) {
	pt, err := s.Sealer.Open(rowID, ct)
	if h := s.hook; h != nil {
		s.hook = nil
		h()
	}
	return pt, err
}

// TestCodeOfAReplacedEnrolmentRefused: a code from a stolen phone arrives
// while an administrator resets the account and the user enrols a new
// phone. The old secret's code must not be accepted by (nor advance the
// replay guard of) the new enrolment.
func TestCodeOfAReplacedEnrolmentRefused(t *testing.T) {
	t.Parallel()
	clk := newClock()
	hs := &hookSealer{Sealer: mfatest.NewSealer()}
	m, err := mfa.New("Acme", mfa.NewMemoryStore(), hs, mfa.WithClock(clk.Now), mfa.WithRecorder(&mfatest.Recorder{}))
	require.NoError(t, err)
	acct := mfa.Account{Org: "org_1", User: "u_ada", Kind: mfa.KindStaff}
	setup, err := m.Begin(ctx, acct, "ada@example.com")
	require.NoError(t, err)
	old := mfatest.SecretOf(t, setup)
	code, err := mfa.TOTP(old, clk.Now(), mfa.SHA1, 6)
	require.NoError(t, err)
	_, err = m.Confirm(ctx, acct, code)
	require.NoError(t, err)

	clk.Advance(time.Minute)
	stolen, err := mfa.TOTP(old, clk.Now().Add(mfa.Period), mfa.SHA1, 6) // the next step: later than the new confirmation
	require.NoError(t, err)
	hs.hook = func() {
		require.NoError(t, m.Reset(ctx, "user:admin", acct, "phone stolen"))
		s2, err := m.Begin(ctx, acct, "ada@example.com")
		require.NoError(t, err)
		c, err := mfa.TOTP(mfatest.SecretOf(t, s2), clk.Now(), mfa.SHA1, 6)
		require.NoError(t, err)
		_, err = m.Confirm(ctx, acct, c)
		require.NoError(t, err)
	}
	require.ErrorIs(t, m.Verify(ctx, acct, stolen), mfa.ErrInvalidCode)
}

// flakyBookkeeping fails the bookkeeping reads around a consumed recovery
// code, like a connection dropping right after the DELETE committed. (The
// failures are forgotten in the same write that consumes the code.)
type flakyBookkeeping struct{ mfa.Store }

func (flakyBookkeeping) RecoveryCodesLeft(context.Context, string, string) (int, error) {
	return 0, errors.New("connection reset")
}

// TestConsumedRecoveryCodeLogsIn: once the code is consumed, bookkeeping
// failures do not fail the login (the user would lose a code for nothing),
// and the use is still audited.
func TestConsumedRecoveryCodeLogsIn(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	codes := h.enrol(t)
	m, err := mfa.New("Acme", flakyBookkeeping{h.store}, h.sealer, mfa.WithClock(h.clock.Now), mfa.WithRecorder(h.rec))
	require.NoError(t, err)
	require.NoError(t, m.UseRecoveryCode(ctx, h.acct, codes.Codes()[0]))
	require.Contains(t, h.rec.Actions(), mfa.ActionRecoveryCodeUsed)
	require.ErrorIs(t, m.UseRecoveryCode(ctx, h.acct, codes.Codes()[0]), mfa.ErrInvalidCode, "still single-use")
}

// TestRegenerationAuditFailureKeepsOldCodes: if the regeneration cannot be
// audited, nothing changes; the user is not left with the old codes
// invalidated and new ones never shown.
func TestRegenerationAuditFailureKeepsOldCodes(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	codes := h.enrol(t)
	h.rec.Fail = errors.New("audit log down")
	_, err := h.m.RegenerateRecoveryCodes(ctx, h.acct)
	require.Error(t, err)
	h.rec.Fail = nil
	require.NoError(t, h.m.UseRecoveryCode(ctx, h.acct, codes.Codes()[0]), "the old codes still work")
}
