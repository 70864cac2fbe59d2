package account

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/nigehban/nigehban/internal/sealed"
)

// TOTP (RFC 6238) as authenticator apps implement it: HMAC-SHA-1, 6 digits,
// 30-second steps. A code is accepted one step early or late, for clock
// skew, and never twice.
const (
	totpPeriod = 30
	totpDigits = 6
	totpSkew   = 1
)

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewTOTPSecret returns a random 160-bit secret (RFC 4226's recommendation).
func NewTOTPSecret() ([]byte, error) {
	s := make([]byte, 20)
	if _, err := rand.Read(s); err != nil {
		return nil, fmt.Errorf("totp secret: %w", err)
	}
	return s, nil
}

// EncodeTOTPSecret is the base32 form users type into an app.
func EncodeTOTPSecret(secret []byte) string { return b32.EncodeToString(secret) }

// DecodeTOTPSecret parses the base32 form (spaces and case ignored).
func DecodeTOTPSecret(s string) ([]byte, error) {
	s = strings.ToUpper(strings.ReplaceAll(s, " ", ""))
	b, err := b32.DecodeString(strings.TrimRight(s, "="))
	if err != nil || len(b) < 10 {
		return nil, fmt.Errorf("%w: TOTP secret", ErrInvalid)
	}
	return b, nil
}

// TOTPURI is the otpauth:// URI authenticator apps import (Key Uri Format).
func TOTPURI(issuer, user string, secret []byte) string {
	q := url.Values{}
	q.Set("secret", EncodeTOTPSecret(secret))
	q.Set("issuer", issuer)
	q.Set("algorithm", "SHA1")
	q.Set("digits", fmt.Sprint(totpDigits))
	q.Set("period", fmt.Sprint(totpPeriod))
	return "otpauth://totp/" + url.PathEscape(issuer+":"+user) + "?" + q.Encode()
}

// HOTP is RFC 4226's code for counter c with the given number of digits.
func HOTP(secret []byte, c uint64, digits int) string {
	m := hmac.New(sha1.New, secret)
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], c)
	m.Write(b[:])
	sum := m.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	v := binary.BigEndian.Uint32(sum[off:]) & 0x7fffffff
	mod := uint32(1)
	for range digits {
		mod *= 10
	}
	return fmt.Sprintf("%0*d", digits, v%mod)
}

// TOTPStep is the RFC 6238 time step of t.
func TOTPStep(t time.Time) int64 { return t.Unix() / totpPeriod }

// TOTPCode is the 6-digit code of secret at t.
func TOTPCode(secret []byte, t time.Time) string {
	return HOTP(secret, uint64(TOTPStep(t)), totpDigits)
}

// matchTOTP returns the step whose code equals code within the allowed
// skew of t, or false. Every candidate is compared, in constant time.
func matchTOTP(secret []byte, code string, t time.Time) (int64, bool) {
	code = strings.ReplaceAll(strings.TrimSpace(code), " ", "")
	if len(code) != totpDigits {
		return 0, false
	}
	now := TOTPStep(t)
	var found int64
	ok := false
	for d := int64(-totpSkew); d <= totpSkew; d++ {
		if hmac.Equal([]byte(HOTP(secret, uint64(now+d), totpDigits)), []byte(code)) {
			found, ok = now+d, true
		}
	}
	return found, ok
}

// TOTP secrets are kept sealed (internal/sealed) under the data key, bound
// to the user's id: a copy of the database does not let anyone mint codes.
// A secret stored in clear by an older release still works and is sealed
// at the user's next enrolment.

func totpAD(id int64) []byte { return []byte("account.totp|" + strconv.FormatInt(id, 10)) }

// sealTOTP seals a new secret for user id; without a data key it refuses,
// naming the flag that fixes it.
func (s *Service) sealTOTP(id int64, secret []byte) ([]byte, error) {
	b, err := s.cfg.Keys.Seal(secret, totpAD(id))
	if errors.Is(err, sealed.ErrNoKey) {
		return nil, fmt.Errorf("%w: a second factor is stored encrypted, and this server has no data key: start it with --data-key FILE (see \"nigehban datakey generate\")", ErrNoDataKey)
	}
	return b, err
}

// openTOTP returns u's secret in clear.
func (s *Service) openTOTP(u User) ([]byte, error) {
	if !sealed.IsSealed(u.TOTPSecret) {
		return u.TOTPSecret, nil // stored in clear before secrets were sealed
	}
	b, err := s.cfg.Keys.Open(u.TOTPSecret, totpAD(u.ID))
	if err != nil {
		return nil, fmt.Errorf("open the TOTP secret of %s: %w", Actor(u), err)
	}
	return b, nil
}
