package protect

import (
	"crypto/rand"
	"fmt"
	"math/big"
	"strings"
)

// Case numbers are NumberDigits random digits followed by a Damm check
// digit, which catches every single-digit error and every swap of adjacent
// digits, the mistakes people make copying a number by hand.
const NumberDigits = 12

// PINDigits is the length of a PIN.
const PINDigits = 8

// damm is the Damm algorithm's quasigroup of order 10 (weakly totally
// anti-symmetric).
var damm = [10][10]byte{
	{0, 3, 1, 7, 5, 9, 8, 6, 4, 2},
	{7, 0, 9, 2, 1, 5, 4, 8, 6, 3},
	{4, 2, 0, 6, 8, 7, 1, 3, 5, 9},
	{1, 7, 5, 0, 9, 8, 3, 4, 2, 6},
	{6, 1, 2, 3, 0, 4, 5, 9, 7, 8},
	{3, 6, 7, 4, 2, 0, 9, 5, 8, 1},
	{5, 8, 6, 9, 7, 2, 0, 1, 3, 4},
	{8, 9, 4, 5, 3, 6, 2, 0, 1, 7},
	{9, 4, 3, 8, 6, 1, 7, 2, 0, 5},
	{2, 5, 8, 1, 4, 3, 6, 7, 9, 0},
}

// CheckDigit returns the Damm check digit of a string of ASCII digits.
func CheckDigit(digits string) byte {
	var interim byte
	for i := 0; i < len(digits); i++ {
		interim = damm[interim][digits[i]-'0']
	}
	return '0' + interim
}

// NewNumber draws a case number.
func NewNumber() (string, error) {
	d, err := randomDigits(NumberDigits)
	if err != nil {
		return "", err
	}
	return d + string(CheckDigit(d)), nil
}

// NewPIN draws a PIN.
func NewPIN() (string, error) { return randomDigits(PINDigits) }

func randomDigits(n int) (string, error) {
	var b strings.Builder
	ten := big.NewInt(10)
	for range n {
		v, err := rand.Int(rand.Reader, ten)
		if err != nil {
			return "", fmt.Errorf("random digits: %w", err)
		}
		b.WriteByte('0' + byte(v.Int64()))
	}
	return b.String(), nil
}

// normalizeDigits keeps the digits of s, reading Urdu (Extended
// Arabic-Indic) and Arabic-Indic digits as ASCII, and drops spaces and
// dashes; anything else makes it fail.
func normalizeDigits(s string, max int) (string, bool) {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r >= '۰' && r <= '۹':
			b.WriteRune('0' + (r - '۰'))
		case r >= '٠' && r <= '٩':
			b.WriteRune('0' + (r - '٠'))
		case r == ' ' || r == '-' || r == '\u00a0':
		default:
			return "", false
		}
		if b.Len() > max {
			return "", false
		}
	}
	return b.String(), true
}

// ParseNumber normalises a case number as a person may type it (groups,
// dashes, Urdu digits) and checks its length and check digit.
func ParseNumber(s string) (string, error) {
	d, ok := normalizeDigits(s, NumberDigits+1)
	if !ok || len(d) != NumberDigits+1 {
		return "", fmt.Errorf("%w: a case number has %d digits", ErrNotFound, NumberDigits+1)
	}
	if CheckDigit(d[:NumberDigits]) != d[NumberDigits] {
		return "", fmt.Errorf("%w: the case number's check digit is wrong (a digit mistyped?)", ErrNotFound)
	}
	return d, nil
}

// FormatNumber groups a case number in fours for reading aloud and copying.
func FormatNumber(n string) string {
	var b strings.Builder
	for i := 0; i < len(n); i++ {
		if i > 0 && i%4 == 0 {
			b.WriteByte('-')
		}
		b.WriteByte(n[i])
	}
	return b.String()
}
