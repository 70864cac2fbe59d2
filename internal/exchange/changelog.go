package exchange

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/bank"
)

// Proving partner pages. A partner checks our signed log checkpoints; for
// the changes we publish to be proven by that log, the log must commit to
// them. The bank change log is committed in blocks: ChangeLog.Commit (run
// before each checkpoint is signed, audit.Log.BeforeSign) appends one audit
// entry per block of up to BlockSize consecutive changes, action
// ActCommitChanges, target "changelog:FROM", detail {from, to, count, root}
// where root is the SHA-256 of the block's change leaf hashes in sequence
// order (ChangeLeafHash: sequence number, operation, bank and a hash of
// the change's content).
//
// A published page is whole blocks. Each carries the committing audit
// entry's leaf and its inclusion proof in the tree of the checkpoint the
// partner verified; the published bank's signal changes in full, and the
// block's other changes only as (seq, op, bank, content hash) — enough to
// recompute the root, nothing of another bank's hashes. The partner
// recomputes the root and checks the proof: a change added, removed,
// altered, or passed off as another bank's, changes the root and the page
// is refused (ErrUnproven) before anything is applied.
//
// Why blocks and one proof per block, not a proof per change: a page is a
// run of consecutive changes, so one commitment covers them all and the
// partner pays one inclusion proof (~log2(entries) hashes) and 32 bytes per
// change of another bank, instead of an inclusion proof per change; the
// entries cost the log one leaf per block, not one per change, and the
// store needs no new column: commitments are found by their audit target.

// ActCommitChanges is the audit action of a committed block of the bank
// change log.
const ActCommitChanges = "changelog.commit"

// ErrUnproven is returned (wrapped) by NigehbanAdapter.Fetch for a partner
// page whose changes are not the ones the partner's checkpointed log
// commits to: nothing of it is applied.
var ErrUnproven = errors.New("partner changes not proven by the partner's log")

// ChangeLogStore is what committing and proving the change log needs.
type ChangeLogStore interface {
	// Changes returns up to limit changes after since (bank.Store).
	Changes(ctx context.Context, since int64, limit int) ([]bank.Change, error)
	// AppendAudit appends an entry in a transaction of its own.
	AppendAudit(ctx context.Context, e audit.Entry) (audit.Entry, error)
	// CaseEntries returns the audit entries whose target is target, in
	// sequence order.
	CaseEntries(ctx context.Context, target string) ([]audit.Entry, error)
	audit.HashStore
}

// ChangeLog commits the bank change log to the audit log in blocks and
// serves proven blocks to partners. It is safe for concurrent use.
type ChangeLog struct {
	St ChangeLogStore
	// BlockSize is the most changes a block holds (default 1000).
	BlockSize int

	mu  sync.Mutex
	end int64 // the change seq up to which blocks are known committed
}

// changeTarget is the audit target of the block starting after seq from.
func changeTarget(from int64) string { return "changelog:" + strconv.FormatInt(from, 10) }

// blockDetail is the detail of an ActCommitChanges entry.
type blockDetail struct {
	From  int64  `json:"from"` // the block holds the changes with from < seq <= to
	To    int64  `json:"to"`
	Count int    `json:"count"`
	Root  string `json:"root"` // hex SHA-256 of the leaf hashes in order
}

// Commit appends a commitment for every change not yet in a block and
// returns how many blocks it added. Replicas committing at once may
// commit overlapping blocks: each is sound, and a partner follows the
// longest one its checkpoint holds.
func (l *ChangeLog) Commit(ctx context.Context) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	// Where the committed blocks end: follow them from the last known end.
	for {
		d, _, err := l.block(ctx, l.end, -1)
		if err != nil {
			return 0, err
		}
		if d == nil {
			break
		}
		l.end = d.To
	}
	size := l.BlockSize
	if size <= 0 {
		size = 1000
	}
	n := 0
	for {
		chs, err := l.St.Changes(ctx, l.end, size)
		if err != nil {
			return n, fmt.Errorf("commit change log: %w", err)
		}
		if len(chs) == 0 {
			return n, nil
		}
		d := blockDetail{From: l.end, To: chs[len(chs)-1].Seq, Count: len(chs), Root: hex.EncodeToString(blockRoot(chs))}
		e := audit.Actor{Name: "changelog"}.Entry(ActCommitChanges, changeTarget(d.From), d)
		if _, err := l.St.AppendAudit(ctx, e); err != nil {
			return n, fmt.Errorf("commit change log block (%d, %d]: %w", d.From, d.To, err)
		}
		l.end = d.To
		n++
	}
}

// block returns the longest committed block starting after from whose
// entry is in the first tree entries of the log (any, for tree < 0), or
// nil.
func (l *ChangeLog) block(ctx context.Context, from, tree int64) (*blockDetail, audit.Entry, error) {
	es, err := l.St.CaseEntries(ctx, changeTarget(from))
	if err != nil {
		return nil, audit.Entry{}, fmt.Errorf("change log blocks from %d: %w", from, err)
	}
	var best *blockDetail
	var be audit.Entry
	for _, e := range es {
		var d blockDetail
		if e.Action != ActCommitChanges || json.Unmarshal(e.Detail, &d) != nil || d.From != from || d.To <= from {
			continue
		}
		if tree >= 0 && e.Seq > tree {
			continue
		}
		if best == nil || d.To > best.To {
			best, be = &d, e
		}
	}
	return best, be, nil
}

// Page returns the blocks of bank's changes after since (a block
// boundary), proven against the log's first tree entries, up to limit
// changes (at least one block when there is one), and where the next page
// starts.
func (l *ChangeLog) Page(ctx context.Context, bankName string, since, tree int64, limit int) (PublishedPage, error) {
	page := PublishedPage{Bank: bankName, Blocks: []PublishedBlock{}, Last: since}
	total := 0
	for total < limit {
		d, e, err := l.block(ctx, page.Last, tree)
		if err != nil {
			return page, err
		}
		if d == nil {
			return page, nil
		}
		chs, err := l.St.Changes(ctx, d.From, d.Count)
		if err != nil {
			return page, fmt.Errorf("changes of block (%d, %d]: %w", d.From, d.To, err)
		}
		if len(chs) != d.Count || chs[len(chs)-1].Seq != d.To || hex.EncodeToString(blockRoot(chs)) != d.Root {
			return page, fmt.Errorf("change log block (%d, %d] no longer matches its commitment in log entry %d", d.From, d.To, e.Seq)
		}
		leaf, err := audit.EncodeLeaf(e)
		if err != nil {
			return page, err
		}
		proof, err := tlog.ProveRecord(tree, e.Seq-1, audit.Reader(ctx, l.St))
		if err != nil {
			return page, fmt.Errorf("inclusion proof of log entry %d in %d entries: %w", e.Seq, tree, err)
		}
		b := PublishedBlock{From: d.From, To: d.To, Leaf: leaf, Proof: make([][]byte, len(proof)),
			Changes: []PublishedChange{}, Others: []OtherChange{}}
		for i, h := range proof {
			b.Proof[i] = h[:]
		}
		for _, c := range chs {
			if pc, ok := published(c); ok && c.Bank == bankName {
				b.Changes = append(b.Changes, pc)
				continue
			}
			body := changeBody(c)
			b.Others = append(b.Others, OtherChange{Seq: c.Seq, Op: c.Op, Bank: c.Bank, Body: body[:]})
		}
		page.Blocks = append(page.Blocks, b)
		page.Last = d.To
		total += d.Count
	}
	page.More = true
	return page, nil
}

// published returns the change as partners read it, for a signal change.
func published(c bank.Change) (PublishedChange, bool) {
	if c.Signal == nil || (c.Op != bank.OpSignalAdd && c.Op != bank.OpSignalRemove) {
		return PublishedChange{}, false
	}
	return PublishedChange{Seq: c.Seq, Op: c.Op, At: c.At, Type: c.Signal.Type, Value: c.Signal.Value,
		Class: c.Signal.Category, Source: c.Signal.Source, Extra: c.Signal.Extra, Reason: c.Reason}, true
}

// changeBody is the SHA-256 of a change's content: for a signal change,
// what PublishedChange.body encodes; otherwise the bank state and reason.
func changeBody(c bank.Change) [32]byte {
	if pc, ok := published(c); ok {
		return pc.body()
	}
	state, _ := json.Marshal(c.BankState)
	return sha256.Sum256(fields("bank-change", c.At.UTC().Format(time.RFC3339Nano), c.Actor, string(state), c.Reason))
}

// body is the SHA-256 of a published signal change's content (everything
// but its seq, op and bank, which the leaf holds), as the partner
// recomputes it.
func (c PublishedChange) body() [32]byte {
	extra := make([]string, 0, 2*len(c.Extra))
	for _, k := range slices.Sorted(maps.Keys(c.Extra)) {
		extra = append(extra, k, c.Extra[k])
	}
	f := []string{"signal-change", c.At.UTC().Format(time.RFC3339Nano), string(c.Type), c.Value, c.Class, c.Source, c.Reason,
		strconv.Itoa(len(c.Extra))}
	return sha256.Sum256(fields(append(f, extra...)...))
}

// fields encodes strings unambiguously: each as its length, ':', itself.
func fields(fs ...string) []byte {
	var b bytes.Buffer
	for _, f := range fs {
		b.WriteString(strconv.Itoa(len(f)))
		b.WriteByte(':')
		b.WriteString(f)
	}
	return b.Bytes()
}

// ChangeLeafHash is the hash a block commits to for the change seq: its
// operation on bank and the hash of its content.
func ChangeLeafHash(seq int64, op bank.Op, bankName string, body []byte) [32]byte {
	return sha256.Sum256(fields("nigehban/change/v1", strconv.FormatInt(seq, 10), string(op), bankName, string(body)))
}

// blockRoot is the root a block of changes is committed under.
func blockRoot(chs []bank.Change) []byte {
	h := sha256.New()
	for _, c := range chs {
		body := changeBody(c)
		leaf := ChangeLeafHash(c.Seq, c.Op, c.Bank, body[:])
		h.Write(leaf[:])
	}
	return h.Sum(nil)
}

// verifyBlock checks a published block of bankName against the verified
// checkpoint c, as the block after from, and returns its changes.
func verifyBlock(b PublishedBlock, bankName string, from int64, c audit.Checkpoint) ([]PublishedChange, error) {
	where := fmt.Sprintf("block (%d, %d]", b.From, b.To)
	if b.From != from || b.To <= b.From {
		return nil, fmt.Errorf("%w: %s does not follow change %d", ErrUnproven, where, from)
	}
	e, err := audit.DecodeLeaf(b.Leaf)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: commitment: %w", ErrUnproven, where, err)
	}
	var d blockDetail
	if e.Action != ActCommitChanges || e.Target != changeTarget(b.From) || json.Unmarshal(e.Detail, &d) != nil ||
		d.From != b.From || d.To != b.To {
		return nil, fmt.Errorf("%w: %s: log entry %d is not its commitment", ErrUnproven, where, e.Seq)
	}
	if e.Seq > c.Size {
		return nil, fmt.Errorf("%w: %s: log entry %d is beyond the checkpoint's %d entries", ErrUnproven, where, e.Seq, c.Size)
	}
	proof := make(tlog.RecordProof, len(b.Proof))
	for i, h := range b.Proof {
		if len(h) != tlog.HashSize {
			return nil, fmt.Errorf("%w: %s: bad proof hash", ErrUnproven, where)
		}
		proof[i] = tlog.Hash(h)
	}
	if err := tlog.CheckRecord(proof, c.Size, c.Hash, e.Seq-1, tlog.RecordHash(b.Leaf)); err != nil {
		return nil, fmt.Errorf("%w: %s: its commitment (log entry %d) is not in the signed tree of %d entries: %v",
			ErrUnproven, where, e.Seq, c.Size, err)
	}
	// The leaves in seq order, ours recomputed from their content.
	type leaf struct {
		seq  int64
		hash [32]byte
	}
	leaves := make([]leaf, 0, len(b.Changes)+len(b.Others))
	for _, pc := range b.Changes {
		if pc.Op != bank.OpSignalAdd && pc.Op != bank.OpSignalRemove {
			return nil, fmt.Errorf("%w: %s: change %d has operation %q", ErrUnproven, where, pc.Seq, pc.Op)
		}
		body := pc.body()
		leaves = append(leaves, leaf{pc.Seq, ChangeLeafHash(pc.Seq, pc.Op, bankName, body[:])})
	}
	for _, o := range b.Others {
		if o.Bank == bankName && (o.Op == bank.OpSignalAdd || o.Op == bank.OpSignalRemove) {
			return nil, fmt.Errorf("%w: %s: change %d of bank %q withheld", ErrUnproven, where, o.Seq, bankName)
		}
		leaves = append(leaves, leaf{o.Seq, ChangeLeafHash(o.Seq, o.Op, o.Bank, o.Body)})
	}
	slices.SortFunc(leaves, func(x, y leaf) int { return cmp.Compare(x.seq, y.seq) })
	h := sha256.New()
	prev := b.From
	for _, l := range leaves {
		if l.seq <= prev || l.seq > b.To {
			return nil, fmt.Errorf("%w: %s: change %d out of order or out of the block", ErrUnproven, where, l.seq)
		}
		prev = l.seq
		h.Write(l.hash[:])
	}
	if len(leaves) != d.Count || hex.EncodeToString(h.Sum(nil)) != d.Root {
		return nil, fmt.Errorf("%w: %s: %d changes that do not match the %d committed in log entry %d (a change added, removed or altered)",
			ErrUnproven, where, len(leaves), d.Count, e.Seq)
	}
	return b.Changes, nil
}
