// Package protect is "Protect my images": people (often children being
// blackmailed with their own pictures) hash their images and videos on their
// own device, in the public page /protect, and send only the hashes. They get
// a case number (with a check digit) and a PIN, with which they can see the
// case's status and withdraw it.
//
// Nothing here can identify the person: a case holds the hashes' links, the
// optional age-at-the-time and category they chose, and an argon2id hash of
// the PIN; never an IP address, a name or a cookie. Neither the number's
// owner nor the PIN can be recovered: the PIN is not stored.
//
// The hashes go into one bank of victim-submitted hashes (VictimBank),
// created on first use through bank.Service, so every addition and removal
// is audited in its transaction and appears in the bank change log that
// replicas and partners follow. The bank's policy is review, never
// automatic action: self-submitted hashes are unverified. Withdrawal removes
// the case's signals at once (a signal another active case also submitted
// stays), which the change log carries as removals (tombstones).
//
// Abuse resistance without tracking people: submissions need a
// proof-of-work token (Challenge, a stateless HMAC-signed puzzle, each
// usable once) and are limited per client address in memory; PIN checks are
// limited per address and per case, and a case locks after repeated wrong
// PINs.
package protect

import (
	"context"
	"errors"
	"time"
)

// Errors callers branch on; returned wrapped with detail.
var (
	// ErrNotFound: no case with that number (or a malformed number).
	ErrNotFound = errors.New("no such case")
	// ErrWrongPIN: the PIN does not match the case.
	ErrWrongPIN = errors.New("wrong PIN")
	// ErrLimited: too many attempts from this address or on this case;
	// RetryAfter tells when to try again.
	ErrLimited = errors.New("too many attempts")
	// ErrInvalid: the submission is malformed (hashes, fields, sizes).
	ErrInvalid = errors.New("invalid submission")
	// ErrProof: the proof-of-work token is missing, wrong, expired or used.
	ErrProof = errors.New("invalid proof of work")
	// ErrExists: a case with that number exists (the store's answer to a
	// number collision; the service draws another).
	ErrExists = errors.New("case exists")
)

// VictimBank is the bank the submitted hashes go into.
const VictimBank = "victim-submitted"

// Ages the person may choose for their age when the image was made ("" =
// not said).
var Ages = []string{"", "under-13", "13-15", "16-17", "18-plus"}

// Categories the person may choose ("" = not said).
var Categories = []string{"", "sexual-image", "sextortion", "other"}

// Case is one submission. It has no personal data.
type Case struct {
	// Number is the case number: 12 random digits and a Damm check digit.
	Number string `json:"number"`
	// PINHash is the argon2id hash of the PIN (PHC string); never shown.
	PINHash  string `json:"-"`
	Age      string `json:"age,omitempty"`
	Category string `json:"category,omitempty"`
	// CreatedAt is when the case was submitted; WithdrawnAt when withdrawn.
	CreatedAt   time.Time  `json:"created_at"`
	WithdrawnAt *time.Time `json:"withdrawn_at,omitempty"`
	// FailedPINs counts wrong PINs since the last right one; the case is
	// locked until LockedUntil after too many.
	FailedPINs  int        `json:"-"`
	LockedUntil *time.Time `json:"-"`
}

// Store keeps cases; the store engines implement it (sqlcore).
type Store interface {
	// CreateProtectCase stores c and links it to the bank signals ids in one
	// transaction with its audit entry e; ErrExists if the number is taken.
	CreateProtectCase(ctx context.Context, c Case, signalIDs []int64, e AuditEntry) error
	// ProtectCase returns the case with that number, or ErrNotFound.
	ProtectCase(ctx context.Context, number string) (Case, error)
	// ProtectCaseSignals returns the ids of the signals linked to the case
	// and, of those, the ones no other active (not withdrawn) case links.
	ProtectCaseSignals(ctx context.Context, number string) (all, only []int64, err error)
	// RecordProtectPIN records a PIN check: ok resets the failure count;
	// a failure increments it and, at lockAfter failures, locks the case
	// until lockUntil. It returns the case as updated.
	RecordProtectPIN(ctx context.Context, number string, ok bool, lockAfter int, lockUntil time.Time) (Case, error)
	// WithdrawProtectCase marks the case withdrawn (once) with its audit
	// entry e in one transaction; it returns false if it already was.
	WithdrawProtectCase(ctx context.Context, number string, e AuditEntry) (bool, error)
}

// AuditEntry is what a case change writes to the audit log (the store adds
// it in the change's transaction). It names no case number and no address:
// the log is public.
type AuditEntry struct {
	Action string
	Detail any
}

// Audit actions of case changes.
const (
	ActCaseCreate   = "protect.case.create"
	ActCaseWithdraw = "protect.case.withdraw"
)

// Actor is the audit actor of every change made on behalf of a person
// through /protect: no key, no user, no address.
const Actor = "protect (self-submitted)"
