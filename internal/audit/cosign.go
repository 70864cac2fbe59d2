package audit

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
)

// Witness cosignatures follow C2SP tlog-cosignature (cosignature/v1): an
// Ed25519 signature, key type 0x04, over
// "cosignature/v1\ntime <T>\n" + checkpoint body, carried in a signed-note
// signature line as 8-byte big-endian timestamp ‖ signature. Keys are
// encoded like note keys: vkey "name+keyID+base64(0x04‖public key)", skey
// "PRIVATE+KEY+name+keyID+base64(0x04‖seed)".

const algCosignatureV1 = 0x04

func cosignKeyID(name string, pub []byte) uint32 {
	h := sha256.New()
	h.Write([]byte(name))
	h.Write([]byte{'\n', algCosignatureV1})
	h.Write(pub)
	return binary.BigEndian.Uint32(h.Sum(nil))
}

func cosignedMessage(t uint64, body []byte) []byte {
	return append([]byte("cosignature/v1\ntime "+strconv.FormatUint(t, 10)+"\n"), body...)
}

// GenerateCosignerKey returns a new witness key named name: skey is the
// secret, vkey the verifier key logs' clients put in their policy.
func GenerateCosignerKey(name string) (skey, vkey string, err error) {
	if name == "" || strings.ContainsAny(name, " +\n") {
		return "", "", fmt.Errorf("witness name %q: must be a schema-less URL without spaces or '+'", name)
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", "", err
	}
	id := cosignKeyID(name, pub)
	skey = fmt.Sprintf("PRIVATE+KEY+%s+%08x+%s", name, id, base64.StdEncoding.EncodeToString(append([]byte{algCosignatureV1}, priv.Seed()...)))
	vkey = fmt.Sprintf("%s+%08x+%s", name, id, base64.StdEncoding.EncodeToString(append([]byte{algCosignatureV1}, pub...)))
	return skey, vkey, nil
}

func parseCosignKey(key string, private bool) (name string, id uint32, material []byte, err error) {
	if private {
		rest, ok := strings.CutPrefix(key, "PRIVATE+KEY+")
		if !ok {
			return "", 0, nil, fmt.Errorf("malformed witness secret key")
		}
		key = rest
	}
	parts := strings.SplitN(key, "+", 3)
	if len(parts) != 3 || parts[0] == "" {
		return "", 0, nil, fmt.Errorf("malformed witness key")
	}
	id64, err := strconv.ParseUint(parts[1], 16, 32)
	if err != nil || len(parts[1]) != 8 {
		return "", 0, nil, fmt.Errorf("malformed witness key id")
	}
	b, err := base64.StdEncoding.DecodeString(parts[2])
	if err != nil || len(b) != 33 || b[0] != algCosignatureV1 {
		return "", 0, nil, fmt.Errorf("witness key is not a cosignature/v1 Ed25519 key")
	}
	return parts[0], uint32(id64), b[1:], nil
}

// Cosigner makes C2SP cosignature/v1 signatures; it implements note.Signer,
// so note.Sign adds its signature line to a checkpoint.
type Cosigner struct {
	name string
	id   uint32
	priv ed25519.PrivateKey
	now  func() time.Time
}

// NewCosigner parses a witness secret key from GenerateCosignerKey.
func NewCosigner(skey string) (*Cosigner, error) {
	name, id, seed, err := parseCosignKey(strings.TrimSpace(skey), true)
	if err != nil {
		return nil, err
	}
	priv := ed25519.NewKeyFromSeed(seed)
	if cosignKeyID(name, priv.Public().(ed25519.PublicKey)) != id {
		return nil, fmt.Errorf("witness key id does not match its key")
	}
	return &Cosigner{name: name, id: id, priv: priv, now: time.Now}, nil
}

// Name implements note.Signer.
func (c *Cosigner) Name() string { return c.name }

// KeyHash implements note.Signer.
func (c *Cosigner) KeyHash() uint32 { return c.id }

// Sign implements note.Signer: msg is the checkpoint body.
func (c *Cosigner) Sign(msg []byte) ([]byte, error) {
	t := uint64(c.now().Unix())
	sig := binary.BigEndian.AppendUint64(nil, t)
	return append(sig, ed25519.Sign(c.priv, cosignedMessage(t, msg))...), nil
}

// Verifier returns the verifier of c's cosignatures.
func (c *Cosigner) Verifier() note.Verifier {
	return &cosignVerifier{name: c.name, id: c.id, pub: c.priv.Public().(ed25519.PublicKey)}
}

// VerifierKey returns c's vkey.
func (c *Cosigner) VerifierKey() string {
	return fmt.Sprintf("%s+%08x+%s", c.name, c.id, base64.StdEncoding.EncodeToString(append([]byte{algCosignatureV1}, c.priv.Public().(ed25519.PublicKey)...)))
}

type cosignVerifier struct {
	name string
	id   uint32
	pub  ed25519.PublicKey
}

// NewCosignatureVerifier parses a witness vkey (type 0x04).
func NewCosignatureVerifier(vkey string) (note.Verifier, error) {
	name, id, pub, err := parseCosignKey(vkey, false)
	if err != nil {
		return nil, err
	}
	if cosignKeyID(name, pub) != id {
		return nil, fmt.Errorf("witness key id does not match its key")
	}
	return &cosignVerifier{name: name, id: id, pub: pub}, nil
}

func (v *cosignVerifier) Name() string    { return v.name }
func (v *cosignVerifier) KeyHash() uint32 { return v.id }
func (v *cosignVerifier) Verify(msg, sig []byte) bool {
	if len(sig) != 8+ed25519.SignatureSize {
		return false
	}
	t := binary.BigEndian.Uint64(sig)
	if t > 1<<63-1 {
		return false
	}
	return ed25519.Verify(v.pub, cosignedMessage(t, msg), sig[8:])
}
