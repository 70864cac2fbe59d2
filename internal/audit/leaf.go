package audit

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// LeafPrefix opens every log leaf: it names the encoding, so a future
// encoding can be told apart.
const LeafPrefix = "nigehban/audit-entry/v1\n"

// MaxLeafSize is the largest encoded entry the log accepts: C2SP tlog-tiles
// entry bundles prefix each entry with a 16-bit length.
const MaxLeafSize = 65535

// ErrEntryTooLarge is returned (wrapped) by EncodeLeaf when an entry's
// encoding exceeds MaxLeafSize.
var ErrEntryTooLarge = errors.New("audit entry too large for the log")

// ErrBadLeaf is returned (wrapped) by DecodeLeaf for bytes that are not a
// leaf of this log.
var ErrBadLeaf = errors.New("malformed audit leaf")

// leafFields lists the names of an entry's logged fields in leaf order.
var leafFields = []string{"seq", "at", "actor", "action", "target", "remote", "detail"}

// EncodeLeaf returns the canonical encoding of e, the data of its leaf in
// the log (leaf index e.Seq-1): LeafPrefix, then for each field in
// leafFields order a line "name len:value" where len is the byte length of
// value in decimal. Times are UTC RFC 3339 with nanoseconds. The encoding is
// deterministic and unambiguous, readable by a person, and covers
// everything Seal covers except the chain link (the tree replaces it).
func EncodeLeaf(e Entry) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(LeafPrefix)
	for i, v := range leafValues(e) {
		b.WriteString(leafFields[i])
		b.WriteByte(' ')
		b.WriteString(strconv.Itoa(len(v)))
		b.WriteByte(':')
		b.WriteString(v)
		b.WriteByte('\n')
	}
	if b.Len() > MaxLeafSize {
		return nil, fmt.Errorf("%w: entry %d encodes to %d bytes (limit %d)", ErrEntryTooLarge, e.Seq, b.Len(), MaxLeafSize)
	}
	return b.Bytes(), nil
}

func leafValues(e Entry) []string {
	return []string{strconv.FormatInt(e.Seq, 10), e.At.UTC().Format(time.RFC3339Nano), e.Actor, e.Action, e.Target, e.Remote, string(e.Detail)}
}

// DecodeLeaf parses a leaf written by EncodeLeaf back into an entry (Prev
// and Hash, which the leaf does not cover, stay empty). Decoding then
// encoding gives the same bytes.
func DecodeLeaf(data []byte) (Entry, error) {
	var e Entry
	rest, ok := bytes.CutPrefix(data, []byte(LeafPrefix))
	if !ok {
		return e, fmt.Errorf("%w: missing %q header", ErrBadLeaf, LeafPrefix[:len(LeafPrefix)-1])
	}
	vals := make([]string, len(leafFields))
	for i, name := range leafFields {
		head, ok := bytes.CutPrefix(rest, []byte(name+" "))
		if !ok {
			return e, fmt.Errorf("%w: field %d is not %q", ErrBadLeaf, i+1, name)
		}
		num, tail, ok := bytes.Cut(head, []byte{':'})
		n, err := strconv.Atoi(string(num))
		if !ok || err != nil || n < 0 || n >= len(tail) || tail[n] != '\n' || strconv.Itoa(n) != string(num) {
			return e, fmt.Errorf("%w: bad length of field %q", ErrBadLeaf, name)
		}
		vals[i], rest = string(tail[:n]), tail[n+1:]
	}
	if len(rest) != 0 {
		return e, fmt.Errorf("%w: %d trailing bytes", ErrBadLeaf, len(rest))
	}
	seq, err := strconv.ParseInt(vals[0], 10, 64)
	if err != nil || seq < 1 || strconv.FormatInt(seq, 10) != vals[0] {
		return e, fmt.Errorf("%w: bad seq %q", ErrBadLeaf, vals[0])
	}
	at, err := time.Parse(time.RFC3339Nano, vals[1])
	if err != nil {
		return e, fmt.Errorf("%w: bad time: %v", ErrBadLeaf, err)
	}
	e = Entry{Seq: seq, At: at.UTC(), Actor: vals[2], Action: vals[3], Target: vals[4], Remote: vals[5]}
	if vals[6] != "" {
		e.Detail = []byte(vals[6])
	}
	if again, err := EncodeLeaf(e); err != nil || !bytes.Equal(again, data) {
		return e, fmt.Errorf("%w: not in canonical form", ErrBadLeaf)
	}
	return e, nil
}

// LeafSeq returns the sequence number a leaf claims, reading only its
// first field (verifiers that hash every leaf need no more).
func LeafSeq(data []byte) (int64, error) {
	rest, ok := bytes.CutPrefix(data, []byte(LeafPrefix+"seq "))
	if !ok {
		return 0, fmt.Errorf("%w: no seq field", ErrBadLeaf)
	}
	num, tail, ok := bytes.Cut(rest, []byte{':'})
	n, err := strconv.Atoi(string(num))
	if !ok || err != nil || n < 1 || n > 19 || len(tail) <= n || tail[n] != '\n' {
		return 0, fmt.Errorf("%w: bad seq field", ErrBadLeaf)
	}
	seq, err := strconv.ParseInt(string(tail[:n]), 10, 64)
	if err != nil || seq < 1 || strconv.FormatInt(seq, 10) != string(tail[:n]) {
		return 0, fmt.Errorf("%w: bad seq %q", ErrBadLeaf, tail[:n])
	}
	return seq, nil
}
