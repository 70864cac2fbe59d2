package bank_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/nigehban/nigehban/internal/bank"
	"github.com/nigehban/nigehban/internal/hashlist"
)

// FuzzBankAndListsAgree checks the promise of internal/signal: a value a
// bank accepts is a value every exchange format accepts and carries back
// unchanged, and the other way round. Before the shared vocabulary, a
// BOM-prefixed md5 or a vPDQ with a control character was accepted by one
// side and refused by the other, so a signal added through `bank add` could be
// impossible to export.
func FuzzBankAndListsAgree(f *testing.F) {
	const pdqHex = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
	f.Add("md5", "\ufeffd41d8cd98f00b204e9800998ecf8427e", "note")
	f.Add("pdq", strings.ToUpper(pdqHex), "two\nlines")
	f.Add("vpdq", `["`+pdqHex+`,100,0.000"]`, "")
	f.Add("vpdq", "[\"a\x01b\"]", "")
	f.Add("vpdq", "garbage", "")
	f.Add("sha1", " da39a3ee5e6b4b0d3255bfef95601890afd80709 ", "bell\x07")
	f.Fuzz(func(t *testing.T, typ, value, note string) {
		s := bank.Signal{Type: bank.Type(typ), Value: value, Note: note, Quality: -1}
		bankErr := s.Normalize()
		e, listErr := hashlist.NormalizeEntry(hashlist.Entry{Type: bank.Type(typ), Value: value, Note: note, Quality: -1})
		if (bankErr == nil) != (listErr == nil) {
			t.Fatalf("bank says %v, hash lists say %v", bankErr, listErr)
		}
		if bankErr != nil {
			if !errors.Is(bankErr, bank.ErrInvalid) {
				t.Fatalf("bank error %v does not wrap ErrInvalid", bankErr)
			}
			return
		}
		if e.Type != s.Type || e.Value != s.Value {
			t.Fatalf("bank normalises to %s %q, hash lists to %s %q", s.Type, s.Value, e.Type, e.Value)
		}
		// Every format that can hold the signal writes it and reads it back.
		for _, f := range []hashlist.Format{hashlist.JSONL, hashlist.CSV, hashlist.Plain} {
			var buf bytes.Buffer
			w, err := hashlist.NewWriter(&buf, f, hashlist.WriterOptions{})
			if err != nil {
				t.Fatal(err)
			}
			in := hashlist.Entry{Type: s.Type, Value: s.Value, Note: s.Note, Quality: -1}
			if f == hashlist.Plain {
				in.Note = "" // plain lists carry values only
			}
			if err := w.Write(in); err != nil {
				t.Fatalf("%s cannot export a signal the bank accepted (%s %q): %v", f, s.Type, s.Value, err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			r, err := hashlist.NewReader(&buf, f, hashlist.ReaderOptions{Type: string(s.Type)})
			if err != nil {
				t.Fatal(err)
			}
			got, err := r.Next()
			if err != nil || got.Type != s.Type || got.Value != s.Value {
				t.Fatalf("%s round trip of %s %q: got %s %q, %v\n%s", f, s.Type, s.Value, got.Type, got.Value, err, buf.String())
			}
		}
	})
}
