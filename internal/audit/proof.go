package audit

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/tlog"
)

// ProofHeader is the first line of a C2SP tlog-proof bundle.
const ProofHeader = "c2sp.org/tlog-proof@v1"

// ErrBadProof is returned (wrapped) by VerifyProof when a bundle is
// malformed or does not prove its entry.
var ErrBadProof = errors.New("bad inclusion proof")

// Prove returns a C2SP tlog-proof bundle for entry e against the signed
// checkpoint msg (whose parsed form is c): the "extra" line carries the
// entry's leaf (EncodeLeaf), so the bundle alone, with the log's verifier
// key, proves the entry to someone offline. Prove checks the proof before
// returning it: an entry whose stored leaf differs cannot be proved.
func Prove(ctx context.Context, hs HashStore, msg []byte, c Checkpoint, e Entry) ([]byte, error) {
	n := e.Seq - 1
	if n < 0 || n >= c.Size {
		return nil, fmt.Errorf("entry %d is not in the checkpoint of %d entries", e.Seq, c.Size)
	}
	leaf, err := EncodeLeaf(e)
	if err != nil {
		return nil, err
	}
	p, err := tlog.ProveRecord(c.Size, n, Reader(ctx, hs))
	if err != nil {
		return nil, fmt.Errorf("inclusion proof of entry %d: %w", e.Seq, err)
	}
	if err := tlog.CheckRecord(p, c.Size, c.Hash, n, tlog.RecordHash(leaf)); err != nil {
		return nil, fmt.Errorf("%w: entry %d as stored is not the logged entry (%v)", ErrLogInconsistent, e.Seq, err)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s\nextra %s\nindex %d\n", ProofHeader, base64.StdEncoding.EncodeToString(leaf), n)
	for _, h := range p {
		b.WriteString(base64.StdEncoding.EncodeToString(h[:]) + "\n")
	}
	b.WriteByte('\n')
	b.Write(msg)
	return b.Bytes(), nil
}

// VerifyProof checks a bundle made by Prove, offline: the checkpoint's
// signatures under policy, then the inclusion of the entry carried in the
// bundle at its index. It returns the proved entry and the checkpoint.
func VerifyProof(bundle []byte, policy Policy) (Entry, Checkpoint, error) {
	var e Entry
	head, msg, ok := bytes.Cut(bundle, []byte("\n\n"))
	if !ok {
		return e, Checkpoint{}, fmt.Errorf("%w: no checkpoint", ErrBadProof)
	}
	lines := strings.Split(string(head), "\n")
	if len(lines) < 3 || lines[0] != ProofHeader {
		return e, Checkpoint{}, fmt.Errorf("%w: not a %s bundle", ErrBadProof, ProofHeader)
	}
	extra, ok := strings.CutPrefix(lines[1], "extra ")
	if !ok {
		return e, Checkpoint{}, fmt.Errorf("%w: no entry (extra line)", ErrBadProof)
	}
	leaf, err := base64.StdEncoding.DecodeString(extra)
	if err != nil {
		return e, Checkpoint{}, fmt.Errorf("%w: entry: %v", ErrBadProof, err)
	}
	idx, ok := strings.CutPrefix(lines[2], "index ")
	n, err := strconv.ParseInt(idx, 10, 64)
	if !ok || err != nil || n < 0 || strconv.FormatInt(n, 10) != idx {
		return e, Checkpoint{}, fmt.Errorf("%w: bad index line %q", ErrBadProof, lines[2])
	}
	var p tlog.RecordProof
	for _, l := range lines[3:] {
		h, err := base64.StdEncoding.DecodeString(l)
		if err != nil || len(h) != tlog.HashSize {
			return e, Checkpoint{}, fmt.Errorf("%w: bad proof hash %q", ErrBadProof, l)
		}
		p = append(p, tlog.Hash(h))
	}
	c, err := policy.Open(msg)
	if err != nil {
		return e, c, err
	}
	if e, err = DecodeLeaf(leaf); err != nil {
		return e, c, fmt.Errorf("%w: %v", ErrBadProof, err)
	}
	if e.Seq-1 != n {
		return e, c, fmt.Errorf("%w: entry %d at index %d", ErrBadProof, e.Seq, n)
	}
	if n >= c.Size {
		return e, c, fmt.Errorf("%w: index %d beyond the checkpoint's %d entries", ErrBadProof, n, c.Size)
	}
	if err := tlog.CheckRecord(p, c.Size, c.Hash, n, tlog.RecordHash(leaf)); err != nil {
		return e, c, fmt.Errorf("%w: entry %d is not in the signed tree of %d entries: %v", ErrBadProof, e.Seq, c.Size, err)
	}
	return e, c, nil
}
