package audit

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestLeafRoundTrip(t *testing.T) {
	at := time.Date(2026, 12, 1, 10, 0, 0, 123456000, time.UTC)
	for _, e := range []Entry{
		{Seq: 1, At: at, Actor: "key:1 (ops)", Action: "bank.create", Target: "ncmec", Detail: []byte(`{"a":1}`)},
		{Seq: 2, At: at, Actor: "", Action: "x"},
		{Seq: 99, At: at.In(time.FixedZone("PKT", 5*3600)), Actor: "a\nb 3:c", Action: "match.action", Remote: "[::1]:80", Detail: []byte("\n\n")},
	} {
		leaf, err := EncodeLeaf(e)
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeLeaf(leaf)
		if err != nil {
			t.Fatalf("decode %q: %v", leaf, err)
		}
		if seq, err := LeafSeq(leaf); err != nil || seq != e.Seq {
			t.Errorf("LeafSeq = %d, %v; want %d", seq, err, e.Seq)
		}
		again, _ := EncodeLeaf(got)
		if !bytes.Equal(again, leaf) || got.Seq != e.Seq || !got.At.Equal(e.At) || got.Actor != e.Actor || string(got.Detail) != string(e.Detail) {
			t.Errorf("round trip of %+v gave %+v", e, got)
		}
	}
}

// TestLeafGolden pins the leaf encoding: changing it would make every
// existing log unverifiable.
func TestLeafGolden(t *testing.T) {
	e := Entry{Seq: 42, At: time.Date(2026, 12, 1, 10, 0, 0, 5000, time.UTC), Actor: "key:3 (moderation)",
		Action: "match.action", Target: "bank:ncmec", Remote: "203.0.113.9", Detail: []byte(`{"action":"block","matches":2}`)}
	leaf, err := EncodeLeaf(e)
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "leaf.golden")
	if *update {
		os.WriteFile(golden, leaf, 0o644)
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(leaf, want) {
		t.Errorf("leaf encoding changed:\n%s\nwant:\n%s", leaf, want)
	}
}

func TestDecodeLeafRejects(t *testing.T) {
	good, _ := EncodeLeaf(Entry{Seq: 3, At: time.Unix(0, 0), Actor: "a", Action: "b"})
	for name, b := range map[string][]byte{
		"empty":         nil,
		"no header":     bytes.TrimPrefix(good, []byte(LeafPrefix)),
		"trailing":      append(bytes.Clone(good), 'x'),
		"bad length":    bytes.Replace(good, []byte("actor 1:a"), []byte("actor 2:a"), 1),
		"leading zero":  bytes.Replace(good, []byte("actor 1:a"), []byte("actor 01:a"), 1),
		"seq zero":      bytes.Replace(good, []byte("seq 1:3"), []byte("seq 1:0"), 1),
		"non-UTC time":  bytes.Replace(good, []byte("1970-01-01T00:00:00Z"), []byte("1970-01-01T05:00:00+05:00"), 1),
		"missing field": bytes.Replace(good, []byte("remote 0:\n"), nil, 1),
	} {
		if _, err := DecodeLeaf(b); !errors.Is(err, ErrBadLeaf) {
			t.Errorf("%s: err = %v, want ErrBadLeaf", name, err)
		}
	}
	big := Entry{Seq: 1, Detail: bytes.Repeat([]byte("x"), MaxLeafSize)}
	if _, err := EncodeLeaf(big); !errors.Is(err, ErrEntryTooLarge) {
		t.Errorf("oversized entry: err = %v", err)
	}
}
