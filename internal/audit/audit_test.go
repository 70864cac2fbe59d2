package audit

import (
	"errors"
	"testing"
	"time"
)

func chain(n int) []Entry {
	var es []Entry
	prev := ""
	for i := range n {
		e := Entry{Seq: int64(i + 1), At: time.Unix(int64(1000+i), 0), Actor: "key:1", Action: "bank.create", Target: "b", Detail: []byte(`{}`)}
		Seal(&e, prev)
		prev = e.Hash
		es = append(es, e)
	}
	return es
}

func TestVerify(t *testing.T) {
	es := chain(5)
	if err := Verify(es, ""); err != nil {
		t.Fatal(err)
	}
	tamper := []func([]Entry) []Entry{
		func(es []Entry) []Entry { es[2].Actor = "someone else"; return es },
		func(es []Entry) []Entry { return append(es[:1], es[2:]...) },            // deleted entry
		func(es []Entry) []Entry { es[3].Detail = []byte(`{"x":1}`); return es }, // edited detail
		func(es []Entry) []Entry { es[0], es[1] = es[1], es[0]; return es },      // reordered
	}
	for i, f := range tamper {
		if err := Verify(f(chain(5)), ""); !errors.Is(err, ErrBroken) {
			t.Errorf("tampering %d not detected: %v", i, err)
		}
	}
	// Field boundaries are length-prefixed: moving text between fields changes the hash.
	a, b := Entry{Actor: "ab", Action: "c"}, Entry{Actor: "a", Action: "bc"}
	Seal(&a, "")
	Seal(&b, "")
	if a.Hash == b.Hash {
		t.Error("field boundaries not hashed")
	}
}
