package report

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/hashlist"
	"github.com/nigehban/nigehban/internal/signal"
	"github.com/nigehban/nigehban/internal/vault"
)

// Packet layout: every file is listed in ManifestFile with its SHA-256,
// and ManifestSig is a signed note (the log key) over the manifest's
// SHA-256, so the packet verifies offline with the log's verifier key.
const (
	ManifestFile = "manifest.json"
	ManifestSig  = "manifest.sig"
	// PacketFormat names the packet's layout version.
	PacketFormat = "nigehban-report-packet/1"
)

// ErrVerify wraps every reason a packet fails verification.
var ErrVerify = errors.New("packet verification failed")

// Manifest lists a packet's files.
type Manifest struct {
	Format  string              `json:"format"`
	Case    int64               `json:"case"`
	Created time.Time           `json:"created"`
	Origin  string              `json:"log_origin"`
	Files   []ManifestFileEntry `json:"files"`
}

// ManifestFileEntry is one file of a packet.
type ManifestFileEntry struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Custody is custody.json: the case's audit entries, each with a C2SP
// tlog-proof bundle against Checkpoint (signed by the log key).
type Custody struct {
	Log        string         `json:"log"`
	Origin     string         `json:"origin"`
	TreeSize   int64          `json:"tree_size"`
	Checkpoint string         `json:"checkpoint"`
	Entries    []CustodyEntry `json:"entries"`
}

// CustodyEntry is one proved entry.
type CustodyEntry struct {
	Entry audit.Entry `json:"entry"`
	Proof string      `json:"proof"` // also proofs/<seq>.tlog-proof
}

// PacketCase is case.json: the case as the packet states it.
type PacketCase struct {
	Format      string       `json:"format"`
	Case        int64        `json:"case"`
	State       State        `json:"state"`
	OpenedAt    time.Time    `json:"opened_at"`
	OpenedBy    string       `json:"opened_by"`
	ApprovedBy  string       `json:"approved_by,omitempty"`
	ApprovedAt  *time.Time   `json:"approved_at,omitempty"`
	NCMECReport int64        `json:"ncmec_report_id,omitempty"`
	Content     Content      `json:"content"`
	Preserved   []vault.Item `json:"preserved,omitempty"` // metadata only: content never enters a packet
	Generated   time.Time    `json:"generated"`
	Tool        string       `json:"tool,omitempty"`
}

// ExportOptions say what to export and how to sign it.
type ExportOptions struct {
	Service *Service
	Log     audit.LogStore
	// LogName identifies the log (the database, password redacted).
	LogName string
	// Signer signs the checkpoint the entries are proved against; Key
	// (the same log key) signs the manifest.
	Signer *audit.Signer
	Key    note.Signer
	Vault  vault.Store // nil: no preserved items listed
	Actor  audit.Actor
	Tool   string
	Now    func() time.Time
}

// Export builds the packet of case id: it logs the export (so the packet
// proves its own making), proves every entry of the case against a freshly
// signed checkpoint, renders the reports and signs the manifest. It
// returns the packet's files by path.
func Export(ctx context.Context, o ExportOptions, id int64) (map[string][]byte, error) {
	if o.Signer == nil || o.Key == nil {
		return nil, errors.New("export: a log key is needed to sign the packet (--log-key)")
	}
	now := time.Now().UTC()
	if o.Now != nil {
		now = o.Now().UTC()
	}
	c, ct, err := o.Service.View(ctx, o.Actor, id, nil)
	if err != nil {
		return nil, err
	}
	var preserved []vault.Item
	if o.Vault != nil {
		if preserved, err = o.Vault.VaultItems(ctx, id); err != nil {
			return nil, err
		}
	}
	if _, err := o.Log.AppendAudit(ctx, o.Actor.Entry(ActExport, c.Target(), map[string]any{"items": len(ct.Items)})); err != nil {
		return nil, fmt.Errorf("export: log: %w", err)
	}
	entries, err := o.Service.Store.CaseEntries(ctx, c.Target())
	if err != nil {
		return nil, err
	}
	l := &audit.Log{Store: o.Log, Signer: o.Signer}
	msg, err := l.Checkpoint(ctx, false)
	if err != nil {
		return nil, fmt.Errorf("export: sign checkpoint: %w", err)
	}
	text, _, err := audit.SplitNote(msg)
	if err != nil {
		return nil, err
	}
	cp, err := audit.ParseCheckpoint(text)
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{}
	cust := Custody{Log: o.LogName, Origin: cp.Origin, TreeSize: cp.Size, Checkpoint: string(msg)}
	for _, e := range entries {
		if e.Seq > cp.Size {
			continue // appended after the checkpoint (another act meanwhile)
		}
		p, err := audit.Prove(ctx, o.Log, msg, cp, e)
		if err != nil {
			return nil, fmt.Errorf("export: prove entry %d: %w", e.Seq, err)
		}
		cust.Entries = append(cust.Entries, CustodyEntry{Entry: e, Proof: string(p)})
		files[fmt.Sprintf("proofs/%d.tlog-proof", e.Seq)] = p
	}
	files["checkpoint"] = msg
	pc := PacketCase{Format: PacketFormat, Case: c.ID, State: c.State, OpenedAt: c.OpenedAt, OpenedBy: c.OpenedBy,
		ApprovedBy: c.ApprovedBy, ApprovedAt: c.ApprovedAt, NCMECReport: c.Submission.ReportID, Content: ct,
		Preserved: preserved, Generated: now, Tool: o.Tool}
	if len(pc.Content.Legal.Sections) == 0 {
		pc.Content.Legal.Sections = DefaultSections
	}
	if files["case.json"], err = json.MarshalIndent(pc, "", "  "); err != nil {
		return nil, err
	}
	if files["custody.json"], err = json.MarshalIndent(cust, "", "  "); err != nil {
		return nil, err
	}
	files["items.csv"] = itemsCSV(ct.Items)
	for _, t := range []signal.Type{signal.MD5, signal.SHA1, signal.SHA256, signal.PDQ} {
		var b bytes.Buffer
		for _, it := range ct.Items {
			if v := itemHash(it, t); v != "" {
				b.WriteString(v + "\n")
			}
		}
		if b.Len() > 0 {
			files["hashes/"+string(t)+".txt"] = b.Bytes()
		}
	}
	if files["hashes/vics.json"], err = vicsJSON(ct.Items); err != nil {
		return nil, err
	}
	for _, lang := range []string{"en", "ur"} {
		h, err := renderHTML(pc, cust, lang)
		if err != nil {
			return nil, err
		}
		files["report-"+lang+".html"] = h
		p, err := renderPDF(pc, cust, lang)
		if err != nil {
			return nil, fmt.Errorf("export: %s PDF: %w", lang, err)
		}
		files["report-"+lang+".pdf"] = p
	}
	m := Manifest{Format: PacketFormat, Case: c.ID, Created: now, Origin: cp.Origin}
	for _, p := range slices.Sorted(mapKeys(files)) {
		s := sha256.Sum256(files[p])
		m.Files = append(m.Files, ManifestFileEntry{Path: p, Size: int64(len(files[p])), SHA256: hex.EncodeToString(s[:])})
	}
	mb, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	files[ManifestFile] = mb
	ms := sha256.Sum256(mb)
	sig, err := note.Sign(&note.Note{Text: fmt.Sprintf("%s\ncase %d\nsha256 %s\n", PacketFormat, c.ID, hex.EncodeToString(ms[:]))}, o.Key)
	if err != nil {
		return nil, fmt.Errorf("export: sign manifest: %w", err)
	}
	files[ManifestSig] = sig
	return files, nil
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func itemHash(it Item, t signal.Type) string {
	switch t {
	case signal.MD5:
		return it.MD5
	case signal.SHA1:
		return it.SHA1
	case signal.SHA256:
		return it.SHA256
	case signal.PDQ:
		return it.PDQ
	}
	return ""
}

func itemsCSV(items []Item) []byte {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.Write([]string{"item", "hit_id", "matched_at", "bank", "signal_type", "signal_value", "distance", "md5", "sha1", "sha256", "pdq",
		"file_name", "uploaded_at", "ip", "port", "classification", "content_id"})
	for i, it := range items {
		up := ""
		if !it.UploadedAt.IsZero() {
			up = it.UploadedAt.UTC().Format(time.RFC3339)
		}
		port := ""
		if it.Port != 0 {
			port = strconv.Itoa(it.Port)
		}
		w.Write([]string{strconv.Itoa(i + 1), strconv.FormatInt(it.HitID, 10), it.MatchedAt.UTC().Format(time.RFC3339Nano), it.Bank,
			it.SignalType, it.SignalValue, strconv.Itoa(it.Distance), it.MD5, it.SHA1, it.SHA256, it.PDQ, it.FileName, up, it.IP, port,
			it.Classification, it.ContentID})
	}
	w.Flush()
	return b.Bytes()
}

// vicsJSON lists the items that have an MD5 (VICS keys media by MD5) in
// Project VIC's VICS JSON.
func vicsJSON(items []Item) ([]byte, error) {
	var b bytes.Buffer
	w, err := hashlist.NewWriter(&b, hashlist.VICS, hashlist.WriterOptions{})
	if err != nil {
		return nil, err
	}
	for i, it := range items {
		if it.MD5 == "" {
			continue
		}
		extra := map[string]string{hashlist.ExtraMediaID: strconv.Itoa(i + 1)}
		for _, t := range []signal.Type{signal.MD5, signal.SHA1, signal.SHA256, signal.PDQ} {
			if v := itemHash(it, t); v != "" {
				if err := w.Write(hashlist.Entry{Type: t, Value: v, Quality: -1, Extra: extra}); err != nil {
					return nil, fmt.Errorf("vics: %w", err)
				}
			}
		}
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// WritePacket writes files to out: a directory, or a zip file when out
// ends in ".zip". An existing non-empty directory is refused.
func WritePacket(files map[string][]byte, out string) error {
	if strings.HasSuffix(strings.ToLower(out), ".zip") {
		f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return err
		}
		zw := zip.NewWriter(f)
		for _, p := range slices.Sorted(mapKeys(files)) {
			w, err := zw.CreateHeader(&zip.FileHeader{Name: p, Method: zip.Deflate, Modified: time.Now().UTC()})
			if err != nil {
				f.Close()
				return err
			}
			if _, err := w.Write(files[p]); err != nil {
				f.Close()
				return err
			}
		}
		if err := zw.Close(); err != nil {
			f.Close()
			return err
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}
	if ents, err := os.ReadDir(out); err == nil && len(ents) > 0 {
		return fmt.Errorf("%s exists and is not empty", out)
	}
	for p, b := range files {
		full := filepath.Join(out, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o700); err != nil {
			return err
		}
		if err := os.WriteFile(full, b, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// ReadPacket reads a packet written by WritePacket (directory or zip).
func ReadPacket(p string) (map[string][]byte, error) {
	files := map[string][]byte{}
	st, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		zr, err := zip.OpenReader(p)
		if err != nil {
			return nil, fmt.Errorf("%w: %s is neither a directory nor a zip: %w", ErrVerify, p, err)
		}
		defer zr.Close()
		for _, f := range zr.File {
			if f.FileInfo().IsDir() {
				continue
			}
			rc, err := f.Open()
			if err != nil {
				return nil, err
			}
			b, err := io.ReadAll(io.LimitReader(rc, 1<<30))
			rc.Close()
			if err != nil {
				return nil, fmt.Errorf("%w: %s: %w", ErrVerify, f.Name, err)
			}
			files[f.Name] = b
		}
		return files, nil
	}
	err = filepath.WalkDir(p, func(fp string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(p, fp)
		if err != nil {
			return err
		}
		b, err := os.ReadFile(fp)
		files[filepath.ToSlash(rel)] = b
		return err
	})
	return files, err
}

// Verified is what Verify established.
type Verified struct {
	Case     int64
	Files    int
	Entries  int
	Origin   string
	TreeSize int64
}

// Verify checks a packet offline with the log's verifier key: the
// manifest's signature, every file's size and SHA-256 (and that no file
// was added), the checkpoint's signature, and each custody entry's
// inclusion proof — and that custody.json states exactly the proved
// entries.
func Verify(files map[string][]byte, vkey string) (Verified, error) {
	var v Verified
	verifier, err := note.NewVerifier(strings.TrimSpace(vkey))
	if err != nil {
		return v, fmt.Errorf("verifier key: %w", err)
	}
	sig, mb := files[ManifestSig], files[ManifestFile]
	if sig == nil || mb == nil {
		return v, fmt.Errorf("%w: %s or %s missing", ErrVerify, ManifestFile, ManifestSig)
	}
	n, err := note.Open(sig, note.VerifierList(verifier))
	if err != nil {
		return v, fmt.Errorf("%w: manifest signature: %w", ErrVerify, err)
	}
	ms := sha256.Sum256(mb)
	lines := strings.Split(strings.TrimSuffix(n.Text, "\n"), "\n")
	if len(lines) != 3 || lines[0] != PacketFormat || lines[2] != "sha256 "+hex.EncodeToString(ms[:]) {
		return v, fmt.Errorf("%w: %s is not the signed manifest", ErrVerify, ManifestFile)
	}
	var m Manifest
	if err := json.Unmarshal(mb, &m); err != nil {
		return v, fmt.Errorf("%w: manifest: %w", ErrVerify, err)
	}
	if lines[1] != "case "+strconv.FormatInt(m.Case, 10) {
		return v, fmt.Errorf("%w: the signature is for %s, the manifest for case %d", ErrVerify, lines[1], m.Case)
	}
	listed := map[string]bool{ManifestFile: true, ManifestSig: true}
	for _, f := range m.Files {
		b, ok := files[f.Path]
		if !ok {
			return v, fmt.Errorf("%w: %s is missing", ErrVerify, f.Path)
		}
		s := sha256.Sum256(b)
		if int64(len(b)) != f.Size || hex.EncodeToString(s[:]) != f.SHA256 {
			return v, fmt.Errorf("%w: %s was changed (sha256 %x, manifest %s)", ErrVerify, f.Path, s, f.SHA256)
		}
		listed[path.Clean(f.Path)] = true
	}
	for p := range files {
		if !listed[p] {
			return v, fmt.Errorf("%w: %s is not in the manifest", ErrVerify, p)
		}
	}
	cp, nEntries, err := verifyCustody(files["custody.json"], vkey, Target(m.Case), files)
	if err != nil {
		return v, err
	}
	return Verified{Case: m.Case, Files: len(m.Files), Entries: nEntries, Origin: cp.Origin, TreeSize: cp.Size}, nil
}

// VerifyCustody checks custody.json alone: the checkpoint's signature and
// each entry's inclusion proof, that the entries it states are those
// proved, and that they are all about target. It returns how many entries
// it checked.
func VerifyCustody(custodyJSON []byte, vkey, target string) (int, error) {
	_, n, err := verifyCustody(custodyJSON, vkey, target, nil)
	return n, err
}

// verifyCustody is VerifyCustody; with files, each proof must also equal
// its proofs/<seq>.tlog-proof file.
func verifyCustody(custodyJSON []byte, vkey, target string, files map[string][]byte) (audit.Checkpoint, int, error) {
	var cp audit.Checkpoint
	var cust Custody
	if err := json.Unmarshal(custodyJSON, &cust); err != nil {
		return cp, 0, fmt.Errorf("%w: custody.json: %w", ErrVerify, err)
	}
	policy, err := audit.NewPolicy(strings.TrimSpace(vkey), nil, 0)
	if err != nil {
		return cp, 0, err
	}
	cp, err = policy.Open([]byte(cust.Checkpoint))
	if err != nil {
		return cp, 0, fmt.Errorf("%w: checkpoint: %w", ErrVerify, err)
	}
	if files != nil && !bytes.Equal(files["checkpoint"], []byte(cust.Checkpoint)) {
		return cp, 0, fmt.Errorf("%w: the checkpoint file differs from custody.json", ErrVerify)
	}
	for _, ce := range cust.Entries {
		e, pc, err := audit.VerifyProof([]byte(ce.Proof), policy)
		if err != nil {
			return cp, 0, fmt.Errorf("%w: entry %d: %w", ErrVerify, ce.Entry.Seq, err)
		}
		if pc != cp {
			return cp, 0, fmt.Errorf("%w: entry %d is proved against another checkpoint", ErrVerify, e.Seq)
		}
		if !sameEntry(e, ce.Entry) {
			return cp, 0, fmt.Errorf("%w: custody.json states entry %d otherwise than the log proves", ErrVerify, ce.Entry.Seq)
		}
		if files != nil && !bytes.Equal(files[fmt.Sprintf("proofs/%d.tlog-proof", e.Seq)], []byte(ce.Proof)) {
			return cp, 0, fmt.Errorf("%w: proofs/%d.tlog-proof differs from custody.json", ErrVerify, e.Seq)
		}
		if e.Target != target {
			return cp, 0, fmt.Errorf("%w: entry %d is about %s, not %s", ErrVerify, e.Seq, e.Target, target)
		}
	}
	if len(cust.Entries) == 0 {
		return cp, 0, fmt.Errorf("%w: no custody entries", ErrVerify)
	}
	return cp, len(cust.Entries), nil
}

// sameEntry compares what the log's leaves cover (not Prev and Hash).
// Details are compared compact (custody.json is indented).
func sameEntry(a, b audit.Entry) bool {
	for _, e := range []*audit.Entry{&a, &b} {
		var c bytes.Buffer
		if json.Compact(&c, e.Detail) == nil {
			e.Detail = c.Bytes()
		}
	}
	la, errA := audit.EncodeLeaf(a)
	lb, errB := audit.EncodeLeaf(b)
	return errA == nil && errB == nil && bytes.Equal(la, lb)
}
