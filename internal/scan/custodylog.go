package scan

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/nigehban/nigehban/internal/audit"
)

// Actions of the custody events a scan writes to the audit log.
const (
	// ActScanStart opens a run: case, examiner, tool, sources, output directory.
	ActScanStart = "scan.start"
	// ActScanSource records the hashes of a source that is a file.
	ActScanSource = "scan.source"
	// ActScanEnd closes a run: its status and the outputs' sha256.
	ActScanEnd = "scan.end"
	// ActScanVerify records the outcome of "scan verify".
	ActScanVerify = "scan.verify"
)

// ErrLog wraps failures to write a scan's custody events to the audit log.
var ErrLog = errors.New("custody log")

// unsignedOrigin names the tree in a checkpoint body made without the log
// key (a checkpoint needs an origin; this one is no key's name, so no
// verifier key can ever accept it as signed).
const unsignedOrigin = "unsigned.invalid/nigehban-audit"

// LogOptions say where a scan writes its custody events: the audit log of
// a store, a transparency log (package audit).
type LogOptions struct {
	// Store is the log. When nil the run is not logged and custody.json
	// says so, with Reason.
	Store audit.LogStore
	// Name identifies the log in custody.json (the database, its password
	// redacted).
	Name string
	// Signer, when set, signs a checkpoint covering the run's entries and
	// the proofs in custody.json are against it; without it they are
	// against the tree size and root hash, unsigned.
	Signer *audit.Signer
	// Actor appends the entries (the CLI user on this machine).
	Actor audit.Actor
	// Reason says why Store is nil (e.g. "--no-log").
	Reason string
}

// CustodyLog is custody.json's account of the scan's entries in the audit
// log: which log, each entry with its inclusion proof (a C2SP tlog-proof
// bundle carrying the entry, checkable offline by "scan verify" or "audit
// verify"), and the latest checkpoint they were proved against.
type CustodyLog struct {
	// Logged is false when the scan ran without a log (Note says why).
	Logged bool   `json:"logged"`
	Note   string `json:"note,omitempty"`
	// Log is the database holding the log.
	Log string `json:"log,omitempty"`
	// Signed tells whether Checkpoint is a signed note (C2SP
	// tlog-checkpoint) or only the checkpoint body (tree size and root).
	Signed     bool   `json:"signed"`
	Origin     string `json:"origin,omitempty"`
	TreeSize   int64  `json:"tree_size,omitempty"`
	RootHash   string `json:"root_hash,omitempty"` // base64, as in checkpoints
	Checkpoint string `json:"checkpoint,omitempty"`
	// Entries are the scan's entries over all its runs, in order; each
	// proof carries its own checkpoint (earlier runs' are older ones).
	Entries []LoggedEntry `json:"entries,omitempty"`
}

// LoggedEntry is one of the scan's entries in the audit log.
type LoggedEntry struct {
	Seq    int64  `json:"seq"`
	Action string `json:"action"`
	Run    int    `json:"run"` // index in Custody.Runs
	Proof  string `json:"proof,omitempty"`
}

// startDetail is the detail of a scan.start entry.
type startDetail struct {
	Case     string   `json:"case"`
	Examiner string   `json:"examiner"`
	Run      int      `json:"run"`
	Resumed  bool     `json:"resumed,omitempty"`
	Tool     Tool     `json:"tool"`
	Host     string   `json:"host"`
	OSUser   string   `json:"os_user"`
	Out      string   `json:"out"`
	Sources  []string `json:"sources"`
}

// sourceDetail is the detail of a scan.source entry.
type sourceDetail struct {
	Case   string `json:"case"`
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	MD5    string `json:"md5"`
	SHA1   string `json:"sha1"`
	SHA256 string `json:"sha256"`
}

// endDetail is the detail of a scan.end entry.
type endDetail struct {
	Case    string   `json:"case"`
	Run     int      `json:"run"`
	Status  string   `json:"status"`
	Entries int64    `json:"entries"`
	Outputs []Output `json:"outputs"`
}

// custodyLogger appends a run's entries and proves them.
type custodyLogger struct {
	o     LogOptions
	cust  *Custody
	run   int
	added []audit.Entry
}

func newCustodyLogger(o *LogOptions, cust *Custody) *custodyLogger {
	if cust.Log == nil || !cust.Log.Logged {
		cust.Log = &CustodyLog{}
	}
	if o == nil || o.Store == nil {
		reason := "no log given"
		if o != nil && o.Reason != "" {
			reason = o.Reason
		}
		if len(cust.Log.Entries) > 0 {
			cust.Log.Note = fmt.Sprintf("run %d was not logged (%s); earlier runs were", len(cust.Runs), reason)
		} else {
			cust.Log.Note = "not logged (" + reason + "): custody.json and the noted sha256 are the only record of this scan"
		}
		return nil
	}
	cust.Log.Logged, cust.Log.Log, cust.Log.Note = true, o.Name, ""
	return &custodyLogger{o: *o, cust: cust, run: len(cust.Runs) - 1}
}

// append appends one entry of the run.
func (l *custodyLogger) append(ctx context.Context, action string, detail any) error {
	e, err := l.o.Store.AppendAudit(ctx, l.o.Actor.Entry(action, l.cust.Case, detail))
	if err != nil {
		return fmt.Errorf("%w: append %s: %w", ErrLog, action, err)
	}
	l.added = append(l.added, e)
	l.cust.Log.Entries = append(l.cust.Log.Entries, LoggedEntry{Seq: e.Seq, Action: action, Run: l.run})
	return nil
}

func (l *custodyLogger) start(ctx context.Context, out string, resumed bool) error {
	d := startDetail{Case: l.cust.Case, Examiner: l.cust.Runs[l.run].Examiner, Run: l.run, Resumed: resumed,
		Tool: l.cust.Tool, Host: l.cust.Runs[l.run].Host, OSUser: l.cust.Runs[l.run].OSUser, Out: out}
	for _, s := range l.cust.Sources {
		d.Sources = append(d.Sources, s.Path)
	}
	return l.append(ctx, ActScanStart, d)
}

// end appends the sources' hashes (a complete run) and the outputs', then
// proves the run's entries into custody.json.
func (l *custodyLogger) end(ctx context.Context) error {
	r := l.cust.Runs[l.run]
	if r.Status == StatusComplete {
		for _, s := range l.cust.Sources {
			if s.Type == "file" && s.SHA256 != "" {
				if err := l.append(ctx, ActScanSource, sourceDetail{Case: l.cust.Case, Path: s.Path, Size: s.Size,
					MD5: s.MD5, SHA1: s.SHA1, SHA256: s.SHA256}); err != nil {
					return err
				}
			}
		}
	}
	if err := l.append(ctx, ActScanEnd, endDetail{Case: l.cust.Case, Run: l.run, Status: r.Status, Entries: r.Entries,
		Outputs: l.cust.Outputs}); err != nil {
		return err
	}
	return l.prove(ctx)
}

// endAndNote is end for a logger that may be nil (no log); a failure is
// also noted in custody.json.
func (l *custodyLogger) endAndNote(ctx context.Context) error {
	if l == nil {
		return nil
	}
	err := l.end(ctx)
	if err != nil {
		l.cust.Log.Note = fmt.Sprintf("logging the end of run %d failed: %v", l.run, err)
	}
	return err
}

// prove fills the proofs of the run's entries against a checkpoint signed
// now (with a Signer) or the current tree's size and root.
func (l *custodyLogger) prove(ctx context.Context) error {
	msg, c, err := checkpointFor(ctx, l.o)
	if err != nil {
		return err
	}
	cl := l.cust.Log
	cl.Signed = l.o.Signer != nil
	cl.Origin, cl.TreeSize, cl.RootHash = c.Origin, c.Size, base64.StdEncoding.EncodeToString(c.Hash[:])
	cl.Checkpoint = string(msg)
	byseq := map[int64]*LoggedEntry{}
	for i := range cl.Entries {
		byseq[cl.Entries[i].Seq] = &cl.Entries[i]
	}
	// Entries of earlier runs that never ended (a crash) have no proof yet.
	todo := l.added
	for _, le := range cl.Entries {
		if le.Proof == "" && le.Run != l.run {
			es, err := l.o.Store.ListAudit(ctx, le.Seq-1, 1)
			if err != nil {
				return fmt.Errorf("%w: read entry %d: %w", ErrLog, le.Seq, err)
			}
			if len(es) == 1 && es[0].Seq == le.Seq {
				todo = append(todo, es[0])
			}
		}
	}
	for _, e := range todo {
		b, err := audit.Prove(ctx, l.o.Store, msg, c, e)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrLog, err)
		}
		byseq[e.Seq].Proof = string(b)
	}
	if !cl.Signed {
		cl.Note = "no log signing key was given: the proofs are against the tree size and root hash above, not a signed checkpoint; " +
			"\"audit verify --since\" with a later signed checkpoint, or the log itself, shows that tree was kept"
	}
	return nil
}

// checkpointFor returns the checkpoint to prove against: signed with
// o.Signer (stored, as "audit checkpoint --key" does), or the unsigned body
// of the current tree.
func checkpointFor(ctx context.Context, o LogOptions) ([]byte, audit.Checkpoint, error) {
	if o.Signer != nil {
		l := &audit.Log{Store: o.Store, Signer: o.Signer}
		msg, err := l.Checkpoint(ctx, false)
		if err != nil {
			return nil, audit.Checkpoint{}, fmt.Errorf("%w: sign checkpoint: %w", ErrLog, err)
		}
		text, _, err := audit.SplitNote(msg)
		if err != nil {
			return nil, audit.Checkpoint{}, fmt.Errorf("%w: %w", ErrLog, err)
		}
		c, err := audit.ParseCheckpoint(text)
		if err != nil {
			return nil, c, fmt.Errorf("%w: %w", ErrLog, err)
		}
		return msg, c, nil
	}
	size, err := o.Store.TreeSize(ctx)
	if err != nil {
		return nil, audit.Checkpoint{}, fmt.Errorf("%w: tree size: %w", ErrLog, err)
	}
	root, err := audit.TreeHash(ctx, o.Store, size)
	if err != nil {
		return nil, audit.Checkpoint{}, fmt.Errorf("%w: %w", ErrLog, err)
	}
	c := audit.Checkpoint{Origin: unsignedOrigin, Size: size, Hash: root}
	return []byte(c.Body()), c, nil
}

// LogVerify appends the outcome of Verify to the log in o (ActScanVerify)
// and returns the entry.
func LogVerify(ctx context.Context, o LogOptions, rep *VerifyReport) (audit.Entry, error) {
	if o.Store == nil {
		return audit.Entry{}, fmt.Errorf("%w: no log", ErrLog)
	}
	d := struct {
		Case          string   `json:"case"`
		Dir           string   `json:"dir"`
		CustodySHA256 string   `json:"custody_sha256"`
		OK            bool     `json:"ok"`
		Verified      int      `json:"verified"`
		Changed       int      `json:"changed"`
		Missing       int      `json:"missing"`
		Unlisted      int      `json:"unlisted"`
		Problems      int      `json:"problems"`
		ProofsOK      *bool    `json:"proofs_ok,omitempty"`
		Sources       []string `json:"sources_checked,omitempty"`
	}{Case: rep.Case, Dir: rep.Dir, CustodySHA256: rep.CustodySHA256, OK: rep.OK, Verified: rep.Verified,
		Changed: len(rep.Changed), Missing: len(rep.Missing), Unlisted: len(rep.Unlisted), Problems: len(rep.Problems),
		Sources: rep.SourcesChecked}
	if rep.Log != nil && rep.Log.Logged {
		d.ProofsOK = &rep.Log.OK
	}
	e, err := o.Store.AppendAudit(ctx, o.Actor.Entry(ActScanVerify, rep.Case, d))
	if err != nil {
		return e, fmt.Errorf("%w: append %s: %w", ErrLog, ActScanVerify, err)
	}
	return e, nil
}

// LogCheck is Verify's check of the proofs custody.json embeds.
type LogCheck struct {
	// Logged is false when the scan was not logged (Note says why).
	Logged bool   `json:"logged"`
	Note   string `json:"note,omitempty"`
	// SignaturesChecked tells whether the checkpoints' signatures were
	// verified (a verifier key was given).
	SignaturesChecked bool         `json:"signatures_checked"`
	Entries           []EntryCheck `json:"entries,omitempty"`
	OK                bool         `json:"ok"`
}

// EntryCheck is the check of one embedded proof.
type EntryCheck struct {
	Seq    int64  `json:"seq"`
	Action string `json:"action"`
	// TreeSize is the size of the tree the entry was proved in.
	TreeSize int64  `json:"tree_size,omitempty"`
	OK       bool   `json:"ok"`
	Err      string `json:"error,omitempty"`
}

// checkLog verifies the proofs embedded in cust offline: each bundle's
// inclusion (and, with policy, its checkpoint's signatures), that it proves
// the entry custody.json says, and that the last scan.end entry records the
// outputs' hashes custody.json records (so the log vouches for them).
func checkLog(cust *Custody, policy *audit.Policy) *LogCheck {
	lc := &LogCheck{SignaturesChecked: policy != nil}
	cl := cust.Log
	switch {
	case cl == nil:
		lc.OK, lc.Note = true, "custody.json records no audit log (written before scans were logged)"
		return lc
	case !cl.Logged:
		lc.OK, lc.Note = true, cl.Note
		return lc
	}
	lc.Logged, lc.OK = true, true
	if policy == nil {
		lc.Note = "no verifier key given: proofs checked against the checkpoints they carry, signatures not checked"
	}
	var lastEnd *audit.Entry
	for _, le := range cl.Entries {
		ec := EntryCheck{Seq: le.Seq, Action: le.Action}
		e, c, err := verifyBundle([]byte(le.Proof), policy)
		ec.TreeSize = c.Size
		switch {
		case le.Proof == "":
			err = errors.New("no proof (the run did not end)")
		case err != nil:
		case e.Seq != le.Seq || e.Action != le.Action || e.Target != cust.Case:
			err = fmt.Errorf("the proof is of entry %d %s %q, custody.json names entry %d %s %q", e.Seq, e.Action, e.Target, le.Seq, le.Action, cust.Case)
		}
		if err == nil && e.Action == ActScanEnd {
			lastEnd = &e
		}
		if err != nil {
			ec.Err, lc.OK = err.Error(), false
		} else {
			ec.OK = true
		}
		lc.Entries = append(lc.Entries, ec)
	}
	if lc.OK {
		if err := checkEndEntry(cust, lastEnd); errors.Is(err, errLastRunUnlogged) {
			lc.Note = strings.TrimPrefix(lc.Note+"; "+err.Error(), "; ")
		} else if err != nil {
			lc.OK = false
			lc.Entries = append(lc.Entries, EntryCheck{Action: ActScanEnd, Err: err.Error()})
		}
	}
	return lc
}

// verifyBundle checks one bundle with the signatures (policy) or without.
func verifyBundle(b []byte, policy *audit.Policy) (audit.Entry, audit.Checkpoint, error) {
	if policy != nil {
		return audit.VerifyProof(b, *policy)
	}
	return audit.VerifyProofUnsigned(b)
}

// errLastRunUnlogged is checkEndEntry's answer when the last run ran with
// no log (--no-log after logged runs): not a failure, but the log does not
// vouch for the final outputs.
var errLastRunUnlogged = errors.New("the last run was not logged: the log does not vouch for the final outputs' hashes")

// checkEndEntry compares the outputs' hashes in the last logged scan.end
// with custody.json's.
func checkEndEntry(cust *Custody, e *audit.Entry) error {
	if e == nil {
		return errors.New("no scan.end entry is proved: the log does not vouch for the outputs' hashes")
	}
	var d endDetail
	if err := json.Unmarshal(e.Detail, &d); err != nil {
		return fmt.Errorf("entry %d: %w", e.Seq, err)
	}
	if d.Run != len(cust.Runs)-1 {
		return errLastRunUnlogged
	}
	if d.Status != cust.Status || len(d.Outputs) != len(cust.Outputs) {
		return fmt.Errorf("entry %d logs status %q and %d outputs, custody.json %q and %d", e.Seq, d.Status, len(d.Outputs), cust.Status, len(cust.Outputs))
	}
	for i, o := range d.Outputs {
		if o != cust.Outputs[i] {
			return fmt.Errorf("entry %d logs %s sha256 %s, custody.json records %s", e.Seq, o.Name, o.SHA256, cust.Outputs[i].SHA256)
		}
	}
	return nil
}

// writeText prints the check.
func (lc *LogCheck) writeText(ew *errWriter) {
	if !lc.Logged {
		ew.printf("  audit log: %s\n", lc.Note)
		return
	}
	for _, ec := range lc.Entries {
		if ec.OK {
			ew.printf("  log entry %-6d %-13s OK (in the tree of %d entries)\n", ec.Seq, ec.Action, ec.TreeSize)
		} else {
			ew.printf("  log entry %-6d %-13s FAILED: %s\n", ec.Seq, ec.Action, ec.Err)
		}
	}
	if lc.Note != "" {
		ew.printf("  audit log: %s\n", strings.TrimSpace(lc.Note))
	}
}
