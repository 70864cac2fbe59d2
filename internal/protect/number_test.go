package protect

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nigehban/nigehban/internal/protect/pow"
)

func TestCheckDigitCatchesTypos(t *testing.T) {
	for range 200 {
		n, err := NewNumber()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ParseNumber(FormatNumber(n)); err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		b := []byte(n)
		for i := range b {
			orig := b[i]
			for d := byte('0'); d <= '9'; d++ {
				if d == orig {
					continue
				}
				b[i] = d
				if _, err := ParseNumber(string(b)); !errors.Is(err, ErrNotFound) {
					t.Fatalf("%s with digit %d changed to %c accepted", n, i, d)
				}
			}
			b[i] = orig
			if i+1 < len(b) && b[i] != b[i+1] {
				b[i], b[i+1] = b[i+1], b[i]
				if _, err := ParseNumber(string(b)); err == nil {
					t.Fatalf("%s with digits %d and %d swapped accepted", n, i, i+1)
				}
				b[i], b[i+1] = b[i+1], b[i]
			}
		}
	}
}

func TestParseNumber(t *testing.T) {
	n := "123456789012"
	n += string(CheckDigit(n))
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{n, true},
		{FormatNumber(n), true},
		{" " + strings.ReplaceAll(FormatNumber(n), "-", " ") + " ", true},
		{"۱۲۳۴۵۶۷۸۹۰۱۲" + string(rune('۰'+rune(n[12]-'0'))), true},
		{n[:12], false},
		{n + "0", false},
		{"12345678901a" + n[12:], false},
		{"", false},
	} {
		got, err := ParseNumber(tc.in)
		if (err == nil) != tc.ok || (tc.ok && got != n) {
			t.Errorf("ParseNumber(%q) = %q, %v; want ok=%v", tc.in, got, err, tc.ok)
		}
	}
}

func TestProof(t *testing.T) {
	now := time.Now()
	p := newProver(nil, 6, time.Minute)
	other := newProver(nil, 6, time.Minute)
	ch := p.issue(now)
	good := Proof{ch.Challenge, Solve(ch.Challenge, 6)}
	for _, tc := range []struct {
		name string
		p    *prover
		pr   Proof
		at   time.Time
		ok   bool
	}{
		{"another server's", other, good, now, false},
		{"expired", p, good, now.Add(2 * time.Minute), false},
		{"valid", p, good, now, true},
		{"used twice", p, good, now, false},
		{"garbage", p, Proof{"x", "1"}, now, false},
	} {
		err := tc.p.verify(tc.pr, tc.at)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrProof)) {
			t.Errorf("%s: %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
	// A nonce that does not solve it: the work is checked.
	ch2 := p.issue(now)
	unsolved := "0"
	for i := 0; pow.LeadingZeroBits(ch2.Challenge, unsolved) >= 6; i++ {
		unsolved = strconv.Itoa(i)
	}
	if err := p.verify(Proof{ch2.Challenge, unsolved}, now); !errors.Is(err, ErrProof) {
		t.Errorf("nonce %s that does not solve the challenge: %v", unsolved, err)
	}
}

func TestLimiter(t *testing.T) {
	l := newLimiter(3, time.Hour)
	now := time.Now()
	for i := range 3 {
		if _, ok := l.take("a", now); !ok {
			t.Fatalf("take %d refused", i)
		}
	}
	if wait, ok := l.take("a", now); ok || wait <= 0 || wait > 20*time.Minute {
		t.Fatalf("4th take: %v %v", wait, ok)
	}
	if _, ok := l.take("b", now); !ok {
		t.Fatal("another address limited")
	}
	if _, blocked := l.empty("a", now.Add(21*time.Minute)); blocked {
		t.Fatal("not refilled after a third of the window")
	}
}

func TestTexts(t *testing.T) {
	for k := range texts["en"] {
		if texts["ur"][k] == "" {
			t.Errorf("Urdu has no %q", k)
		}
	}
	for k := range texts["ur"] {
		if texts["en"][k] == "" {
			t.Errorf("English has no %q", k)
		}
	}
	for _, a := range Ages[1:] {
		if texts["en"]["age_"+a] == "" {
			t.Errorf("no text for age %q", a)
		}
	}
	for _, c := range Categories[1:] {
		if texts["en"]["cat_"+c] == "" {
			t.Errorf("no text for category %q", c)
		}
	}
}
