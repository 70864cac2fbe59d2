package account

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// KDF are the argon2id parameters new passwords are hashed with. Stored
// hashes carry their own parameters, so raising these takes effect for
// each user at their next password change.
type KDF struct {
	Time    uint32 // passes
	Memory  uint32 // KiB
	Threads uint8
}

// DefaultKDF is RFC 9106's second recommended option (t=3, 64 MiB, p=4):
// about 0.1 s a hash on one core of a small server.
var DefaultKDF = KDF{Time: 3, Memory: 64 << 10, Threads: 4}

// Password length bounds (in characters, and bytes for the maximum).
const (
	MinPasswordLen   = 12
	MaxPasswordBytes = 1024
)

// maxKDFMemory bounds the memory a stored hash may ask for (1 GiB), so an
// edited database cannot make logins exhaust memory.
const maxKDFMemory = 1 << 20

// CheckPasswordPolicy refuses passwords too short or too long.
func CheckPasswordPolicy(pw string) error {
	if utf8.RuneCountInString(pw) < MinPasswordLen {
		return fmt.Errorf("%w: a password needs at least %d characters", ErrInvalid, MinPasswordLen)
	}
	if len(pw) > MaxPasswordBytes {
		return fmt.Errorf("%w: a password may have at most %d bytes", ErrInvalid, MaxPasswordBytes)
	}
	return nil
}

// HashPassword returns pw's argon2id hash in PHC string form:
// $argon2id$v=19$m=…,t=…,p=…$salt$hash (unpadded base64).
func (k KDF) HashPassword(pw string) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("password salt: %w", err)
	}
	sum := argon2.IDKey([]byte(pw), salt, k.Time, k.Memory, k.Threads, 32)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, k.Memory, k.Time, k.Threads,
		b64.EncodeToString(salt), b64.EncodeToString(sum)), nil
}

// VerifyPassword reports whether pw matches the PHC-form hash (in constant
// time over the derived key). A malformed hash matches nothing.
func VerifyPassword(hash, pw string) bool {
	k, salt, sum, err := parsePHC(hash)
	if err != nil || len(pw) > MaxPasswordBytes {
		return false
	}
	got := argon2.IDKey([]byte(pw), salt, k.Time, k.Memory, k.Threads, uint32(len(sum)))
	return subtle.ConstantTimeCompare(got, sum) == 1
}

func parsePHC(s string) (KDF, []byte, []byte, error) {
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return KDF{}, nil, nil, fmt.Errorf("not an argon2id hash")
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return KDF{}, nil, nil, fmt.Errorf("argon2id version %q", parts[2])
	}
	var k KDF
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &k.Memory, &k.Time, &k.Threads); err != nil {
		return KDF{}, nil, nil, fmt.Errorf("argon2id parameters %q: %w", parts[3], err)
	}
	if k.Time == 0 || k.Threads == 0 || k.Memory < 8*uint32(k.Threads) || k.Memory > maxKDFMemory || k.Time > 100 {
		return KDF{}, nil, nil, fmt.Errorf("argon2id parameters %q out of range", parts[3])
	}
	b64 := base64.RawStdEncoding
	salt, err := b64.DecodeString(parts[4])
	if err != nil || len(salt) < 8 {
		return KDF{}, nil, nil, fmt.Errorf("argon2id salt")
	}
	sum, err := b64.DecodeString(parts[5])
	if err != nil || len(sum) < 16 || len(sum) > 64 {
		return KDF{}, nil, nil, fmt.Errorf("argon2id hash")
	}
	return k, salt, sum, nil
}
