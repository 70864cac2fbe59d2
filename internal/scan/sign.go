package scan

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/mod/sumdb/note"

	"github.com/nigehban/nigehban/internal/audit"
)

// SignatureName is the examiner's or lab's signature of custody.json: a
// signed note (golang.org/x/mod/sumdb/note, Ed25519) over the case and
// custody.json's sha256. Keys are made with "nigehban audit keygen".
const SignatureName = "custody.json.sig"

// ErrSignature wraps a custody signature that does not verify.
var ErrSignature = errors.New("custody signature")

func custodyStatement(caseID, sha string) string {
	return fmt.Sprintf("nigehban custody.json\ncase %s\nsha256 %s\n", strings.ReplaceAll(caseID, "\n", " "), sha)
}

// signCustody writes SignatureName for custody.json of sha256 sha.
func signCustody(out, keyFile, caseID, sha string) error {
	skey, err := audit.ReadKeyFile(keyFile)
	if err != nil {
		return fmt.Errorf("sign custody.json: %w", err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		return fmt.Errorf("sign custody.json: key %s: %w", keyFile, err)
	}
	msg, err := note.Sign(&note.Note{Text: custodyStatement(caseID, sha)}, s)
	if err != nil {
		return fmt.Errorf("sign custody.json: %w", err)
	}
	return writeFileAtomicBytes(filepath.Join(out, SignatureName), msg)
}

// VerifyCustodySignature checks dir's custody.json.sig against the
// verifier key vkey and custody.json as it is now; it returns the signer's
// name.
func VerifyCustodySignature(dir, vkey string, custodySHA256, caseID string) (string, error) {
	v, err := note.NewVerifier(strings.TrimSpace(vkey))
	if err != nil {
		return "", fmt.Errorf("%w: verifier key: %v", ErrSignature, err)
	}
	msg, err := os.ReadFile(filepath.Join(dir, SignatureName))
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrSignature, err)
	}
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrSignature, err)
	}
	if n.Text != custodyStatement(caseID, custodySHA256) {
		return "", fmt.Errorf("%w: signs a different custody.json (or case)", ErrSignature)
	}
	return v.Name(), nil
}

func writeFileAtomicBytes(p string, b []byte) error {
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, b, 0o640); err != nil {
		return err
	}
	return os.Rename(tmp, p)
}
