package protect

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"sync"
	"time"

	"github.com/nigehban/nigehban/internal/protect/pow"
)

// A proof-of-work challenge is stateless: base64url of expiry (8 bytes,
// Unix seconds), difficulty (1 byte), 16 random bytes and the first 16
// bytes of their HMAC-SHA256 under the server's key. A solution is a nonce
// (decimal) such that SHA-256(challenge ":" nonce) starts with difficulty
// zero bits. Each challenge is accepted once per replica (remembered until
// it expires).

const challengeLen = 8 + 1 + 16 + 16

// Challenge is a puzzle the page solves before submitting.
type Challenge struct {
	Challenge  string    `json:"challenge"`
	Difficulty int       `json:"difficulty"` // leading zero bits of the SHA-256
	Expires    time.Time `json:"expires"`
}

// Proof is a solved challenge.
type Proof struct {
	Challenge string `json:"challenge"`
	Nonce     string `json:"nonce"`
}

type prover struct {
	key        []byte
	difficulty int
	ttl        time.Duration

	mu   sync.Mutex
	used map[string]time.Time
}

func newProver(key []byte, difficulty int, ttl time.Duration) *prover {
	if len(key) == 0 {
		key = make([]byte, 32)
		rand.Read(key) // never fails (crypto/rand, Go ≥ 1.24)
	}
	return &prover{key: key, difficulty: difficulty, ttl: ttl, used: map[string]time.Time{}}
}

func (p *prover) mac(b []byte) []byte {
	m := hmac.New(sha256.New, p.key)
	m.Write(b)
	return m.Sum(nil)[:16]
}

func (p *prover) issue(now time.Time) Challenge {
	b := make([]byte, challengeLen)
	exp := now.Add(p.ttl).Truncate(time.Second)
	binary.BigEndian.PutUint64(b, uint64(exp.Unix()))
	b[8] = byte(p.difficulty)
	rand.Read(b[9:25])
	copy(b[25:], p.mac(b[:25]))
	return Challenge{Challenge: base64.RawURLEncoding.EncodeToString(b), Difficulty: p.difficulty, Expires: exp.UTC()}
}

// Solve finds a nonce for a challenge (what the page's WebAssembly does;
// here for tests and command-line clients).
func Solve(challenge string, difficulty int) string { return pow.Solve(challenge, difficulty) }

func (p *prover) verify(pr Proof, now time.Time) error {
	b, err := base64.RawURLEncoding.DecodeString(pr.Challenge)
	if err != nil || len(b) != challengeLen || !hmac.Equal(b[25:], p.mac(b[:25])) {
		return fmt.Errorf("%w: not a challenge of this server", ErrProof)
	}
	exp := time.Unix(int64(binary.BigEndian.Uint64(b)), 0)
	if now.After(exp) {
		return fmt.Errorf("%w: the challenge expired; ask for a new one", ErrProof)
	}
	if len(pr.Nonce) > 20 || pow.LeadingZeroBits(pr.Challenge, pr.Nonce) < int(b[8]) {
		return fmt.Errorf("%w: the nonce does not solve the challenge", ErrProof)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for c, e := range p.used {
		if now.After(e) {
			delete(p.used, c)
		}
	}
	if _, ok := p.used[pr.Challenge]; ok {
		return fmt.Errorf("%w: the challenge was used already", ErrProof)
	}
	p.used[pr.Challenge] = exp
	return nil
}
