package sqlcore

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/bank"
	"github.com/nigehban/nigehban/internal/exchange"
)

// Exchanges (exchange.Store).

const exchangeCols = `id, name, kind, bank, url, settings, credentials, enabled, stale_after, checkpoint_pos, checkpoint,
	sync_start, fetched_total, last_fetch_at, last_ok_at, last_error, created_at, created_by, staged`

func scanExchange(row Row) (exchange.Exchange, error) {
	var x exchange.Exchange
	var kind, settings string
	var stale int64
	err := row.Scan(&x.ID, &x.Name, &kind, &x.Bank, &x.URL, &settings, &x.SealedCredentials, &x.Enabled, &stale,
		&x.Checkpoint.Pos, &x.Checkpoint.State, scanNullTime(&x.State.SyncStart), &x.State.Fetched,
		scanNullTime(&x.State.LastFetchAt), scanNullTime(&x.State.LastOKAt), &x.State.LastError,
		scanTime(&x.CreatedAt), &x.CreatedBy, &x.State.Staged)
	if err != nil {
		return x, err
	}
	x.Kind, x.StaleAfter = exchange.Kind(kind), time.Duration(stale)*time.Microsecond
	if settings != "" && settings != "{}" {
		if err := json.Unmarshal([]byte(settings), &x.Settings); err != nil {
			return x, fmt.Errorf("exchange %s settings: %w", x.Name, err)
		}
	}
	return x, nil
}

// CreateExchange implements exchange.Store.
func (c *Core) CreateExchange(ctx context.Context, x exchange.Exchange, by audit.Actor) (exchange.Exchange, error) {
	settings, _ := json.Marshal(x.Settings)
	if x.Settings == nil {
		settings = []byte("{}")
	}
	err := c.write(ctx, func(tx Tx) error {
		t := Now()
		x.CreatedAt, x.CreatedBy = t, by.Name
		err := tx.QueryRow(ctx, `INSERT INTO exchanges (name, kind, bank, url, settings, credentials, enabled, stale_after, created_at, created_by)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING RETURNING id`,
			x.Name, string(x.Kind), x.Bank, x.URL, string(settings), x.SealedCredentials, x.Enabled,
			x.StaleAfter.Microseconds(), c.f.Time(t), by.Name).Scan(&x.ID)
		if isNoRows(err) {
			return exchange.ErrExists
		}
		if err != nil {
			return err
		}
		_, err = c.AppendTx(ctx, tx, by.Entry(exchange.ActCreate, x.Name,
			map[string]any{"kind": x.Kind, "bank": x.Bank, "url": x.URL, "settings": x.Settings,
				"credentials": x.SealedCredentials != "", "stale_after": x.StaleAfter.String()}))
		return err
	})
	if err != nil {
		return exchange.Exchange{}, err
	}
	return x, nil
}

// GetExchange implements exchange.Store.
func (c *Core) GetExchange(ctx context.Context, name string) (exchange.Exchange, error) {
	x, err := scanExchange(c.eng.Reader().QueryRow(ctx, `SELECT `+exchangeCols+` FROM exchanges WHERE name = ?`, name))
	if isNoRows(err) {
		return x, exchange.ErrNotFound
	}
	return x, err
}

// ListExchanges implements exchange.Store.
func (c *Core) ListExchanges(ctx context.Context) ([]exchange.Exchange, error) {
	return queryAll(ctx, c.eng.Reader(), scanExchange, `SELECT `+exchangeCols+` FROM exchanges ORDER BY name`)
}

// SetExchangeEnabled implements exchange.Store.
func (c *Core) SetExchangeEnabled(ctx context.Context, name string, enabled bool, by audit.Actor) error {
	return c.write(ctx, func(tx Tx) error {
		n, err := tx.Exec(ctx, `UPDATE exchanges SET enabled = ? WHERE name = ?`, enabled, name)
		if err != nil {
			return err
		}
		if n == 0 {
			return exchange.ErrNotFound
		}
		_, err = c.AppendTx(ctx, tx, by.Entry(exchange.ActUpdate, name, map[string]any{"enabled": enabled}))
		return err
	})
}

// lockCheckpoint reads (locking it where the engine locks rows) the
// exchange's id, bank and checkpoint, and fails with ErrConflict unless the
// checkpoint is still prev, the one the pages were fetched from.
func (c *Core) lockCheckpoint(ctx context.Context, tx Tx, name string, prev exchange.Checkpoint) (id int64, bankName string, err error) {
	var pos int64
	var state string
	err = tx.QueryRow(ctx, `SELECT id, bank, checkpoint_pos, checkpoint FROM exchanges WHERE name = ?`+c.f.ForUpdate, name).
		Scan(&id, &bankName, &pos, &state)
	if isNoRows(err) {
		return 0, "", exchange.ErrNotFound
	}
	if err != nil {
		return 0, "", err
	}
	if pos != prev.Pos || state != prev.State {
		return 0, "", fmt.Errorf("exchange %s: stored position %d, page fetched from %d: %w", name, pos, prev.Pos, exchange.ErrConflict)
	}
	return id, bankName, nil
}

// ApplyPage implements exchange.Store: the page's signals, the audit entry,
// the checkpoint and the change-log entries commit in one transaction.
func (c *Core) ApplyPage(ctx context.Context, name string, prev, next exchange.Checkpoint, by audit.Actor,
	detail map[string]any, fn func(w exchange.Writer) error) error {
	added, err := c.applyPage(ctx, name, prev, next, by, detail, fn)
	if err != nil {
		return err
	}
	c.eng.AfterWrite(ctx, added)
	return nil
}

// MergePages implements exchange.MergeStore: ApplyPage, with the engine's
// caches kept until the last merge of a fetch.
func (c *Core) MergePages(ctx context.Context, name string, prev, next exchange.Checkpoint, by audit.Actor,
	detail map[string]any, last bool, fn func(w exchange.Writer) error) error {
	_, err := c.applyPage(ctx, name, prev, next, by, detail, fn)
	if err == nil && last {
		c.eng.AfterWrite(ctx, math.MaxInt)
	}
	return err
}

// BankEmpty implements exchange.MergeStore (through the signals_active
// index: no scan).
func (c *Core) BankEmpty(ctx context.Context, name string) (bool, error) {
	var some bool
	err := c.eng.Reader().QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM signals s JOIN exchanges x ON x.name = ?
		JOIN banks b ON b.name = x.bank WHERE s.bank_id = b.id AND s.removed_at IS NULL)`, name).Scan(&some)
	return !some, err
}

func (c *Core) applyPage(ctx context.Context, name string, prev, next exchange.Checkpoint, by audit.Actor,
	detail map[string]any, fn func(w exchange.Writer) error) (int, error) {
	if next.Pos < prev.Pos {
		return 0, fmt.Errorf("exchange %s: position %d after %d: %w", name, next.Pos, prev.Pos, exchange.ErrBackwards)
	}
	var added int
	err := c.write(ctx, func(tx Tx) error {
		id, bankName, err := c.lockCheckpoint(ctx, tx, name, prev)
		if err != nil {
			return err
		}
		added, err = c.writeSignalsTx(ctx, tx, bankName, by, func(w *signalWriter) error {
			if err := fn(&exchangeWriter{signalWriter: w, xid: id}); err != nil {
				return err
			}
			// detail is read after fn: what fn set in it (the page's
			// result) is audited too.
			d := map[string]any{"exchange": name, "from": prev.Pos, "to": next.Pos}
			for k, v := range detail {
				d[k] = v
			}
			w.Audit(exchange.ActSync, d)
			return nil
		}, func(w *signalWriter) error {
			_, err := tx.Exec(ctx, `UPDATE exchanges SET checkpoint_pos = ?, checkpoint = ?, fetched_total = fetched_total + ?
				WHERE id = ?`, next.Pos, next.State, int64(w.added+len(w.withdrawn)), id)
			return err
		})
		return err
	})
	return added, err
}

// ResetCheckpoint implements exchange.Store.
func (c *Core) ResetCheckpoint(ctx context.Context, name, reason string, by audit.Actor) error {
	return c.write(ctx, func(tx Tx) error {
		var pos int64
		err := tx.QueryRow(ctx, `SELECT checkpoint_pos FROM exchanges WHERE name = ?`+c.f.ForUpdate, name).Scan(&pos)
		if isNoRows(err) {
			return exchange.ErrNotFound
		}
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE exchanges SET checkpoint_pos = 0, checkpoint = '' WHERE name = ?`, name); err != nil {
			return err
		}
		_, err = c.AppendTx(ctx, tx, by.Entry(exchange.ActReset, name, map[string]any{"from": pos, "reason": reason}))
		return err
	})
}

// RecordFetch implements exchange.Store.
func (c *Core) RecordFetch(ctx context.Context, name string, start bool, fetched int64, errText string, done bool) error {
	t := c.f.Time(Now())
	var q string
	var args []any
	switch {
	case start:
		q, args = `UPDATE exchanges SET sync_start = ?, last_fetch_at = ?, last_error = '' WHERE name = ?`, []any{t, t, name}
	case done && errText == "":
		q, args = `UPDATE exchanges SET sync_start = NULL, last_ok_at = ?, last_error = '' WHERE name = ?`, []any{t, name}
	case done:
		q, args = `UPDATE exchanges SET sync_start = NULL, last_error = ? WHERE name = ?`, []any{errText, name}
	default:
		q, args = `UPDATE exchanges SET last_error = ? WHERE name = ?`, []any{errText, name}
	}
	return c.write(ctx, func(tx Tx) error {
		n, err := tx.Exec(ctx, q, args...)
		if err == nil && n == 0 {
			err = exchange.ErrNotFound
		}
		return err
	})
}

const opinionCols = `o.id, x.name, o.signal_id, o.entry_id, o.member, o.type, o.value, o.verdict, o.decision,
	o.created_at, o.created_by, o.attempts, o.sent_at, o.last_error`

func scanOpinion(row Row) (exchange.Opinion, error) {
	var o exchange.Opinion
	var typ, verdict string
	err := row.Scan(&o.ID, &o.Exchange, &o.SignalID, &o.EntryID, &o.Member, &typ, &o.Value, &verdict, &o.Decision,
		scanTime(&o.At), &o.By, &o.Attempts, scanNullTime(&o.SentAt), &o.Err)
	o.Type, o.Verdict = bank.Type(typ), exchange.Verdict(verdict)
	return o, err
}

// QueueOpinion implements exchange.Store.
func (c *Core) QueueOpinion(ctx context.Context, op exchange.Opinion, by audit.Actor) (bool, error) {
	created := false
	err := c.write(ctx, func(tx Tx) error {
		var xid int64
		err := tx.QueryRow(ctx, `SELECT id FROM exchanges WHERE name = ?`, op.Exchange).Scan(&xid)
		if isNoRows(err) {
			return exchange.ErrNotFound
		}
		if err != nil {
			return err
		}
		t := Now()
		var id int64
		err = tx.QueryRow(ctx, `INSERT INTO exchange_opinions (exchange_id, signal_id, entry_id, member, type, value, verdict,
			decision, created_at, created_by, next_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (exchange_id, decision) DO NOTHING RETURNING id`,
			xid, op.SignalID, op.EntryID, op.Member, string(op.Type), op.Value, string(op.Verdict), op.Decision,
			c.f.Time(t), by.Name, c.f.Time(t)).Scan(&id)
		if isNoRows(err) {
			return nil // the same decision is queued already
		}
		if err != nil {
			return err
		}
		created = true
		if op.Verdict == exchange.FalsePositive {
			// The exchange shares the hash as abuse material; we say it is not.
			if _, err := tx.Exec(ctx, `INSERT INTO disputed_signals (signal_id, exchange_id, ours, theirs, at)
				VALUES (?, ?, ?, ?, ?) ON CONFLICT (signal_id) DO UPDATE SET ours = excluded.ours, at = excluded.at`,
				op.SignalID, xid, string(op.Verdict), string(exchange.TruePositive), c.f.Time(t)); err != nil {
				return fmt.Errorf("mark signal disputed: %w", err)
			}
		} else if op.Verdict == exchange.TruePositive {
			if _, err := tx.Exec(ctx, `DELETE FROM disputed_signals WHERE signal_id = ?`, op.SignalID); err != nil {
				return err
			}
		}
		_, err = c.AppendTx(ctx, tx, by.Entry(exchange.ActOpinion, op.Exchange, map[string]any{
			"id": id, "signal_id": op.SignalID, "entry_id": op.EntryID, "verdict": op.Verdict, "decision": op.Decision}))
		return err
	})
	return created, err
}

// DueOpinions implements exchange.Store.
func (c *Core) DueOpinions(ctx context.Context, now time.Time, limit int) ([]exchange.Opinion, error) {
	return queryAll(ctx, c.eng.Reader(), scanOpinion, `SELECT `+opinionCols+`
		FROM exchange_opinions o JOIN exchanges x ON x.id = o.exchange_id
		WHERE o.sent_at IS NULL AND o.next_at <= ? ORDER BY o.id LIMIT ?`, c.f.Time(now), limit)
}

// OpinionSent implements exchange.Store.
func (c *Core) OpinionSent(ctx context.Context, id int64, at time.Time) error {
	return c.write(ctx, func(tx Tx) error {
		_, err := tx.Exec(ctx, `UPDATE exchange_opinions SET sent_at = ?, attempts = attempts + 1, last_error = ''
			WHERE id = ? AND sent_at IS NULL`, c.f.Time(at), id)
		return err
	})
}

// OpinionFailed implements exchange.Store.
func (c *Core) OpinionFailed(ctx context.Context, id int64, errText string, next time.Time) error {
	return c.write(ctx, func(tx Tx) error {
		_, err := tx.Exec(ctx, `UPDATE exchange_opinions SET attempts = attempts + 1, last_error = ?, next_at = ?
			WHERE id = ? AND sent_at IS NULL`, errText, c.f.Time(next), id)
		return err
	})
}

// ListOpinions implements exchange.Store.
func (c *Core) ListOpinions(ctx context.Context, name string, limit int) ([]exchange.Opinion, error) {
	return queryAll(ctx, c.eng.Reader(), scanOpinion, `SELECT `+opinionCols+`
		FROM exchange_opinions o JOIN exchanges x ON x.id = o.exchange_id
		WHERE x.name = ? ORDER BY o.id DESC LIMIT ?`, name, limit)
}

// Disputed implements exchange.Store.
func (c *Core) Disputed(ctx context.Context, signalID int64) (bool, error) {
	var n int64
	err := c.eng.Reader().QueryRow(ctx, `SELECT COUNT(*) FROM disputed_signals WHERE signal_id = ?`, signalID).Scan(&n)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return false, err
	}
	return n > 0, nil
}

// exchangeWriter is the exchange.Writer of one ApplyPage transaction: a
// signalWriter that also records which hashes each exchange entry brought.
type exchangeWriter struct {
	*signalWriter
	xid int64
}

// Add implements exchange.Writer.
func (w *exchangeWriter) Add(ctx context.Context, sigs []bank.Signal) (bank.AddCounts, error) {
	n, err := w.signalWriter.Add(ctx, sigs)
	if err != nil {
		return n, err
	}
	rows := make([]EntryRow, 0, len(sigs))
	for i := range sigs {
		entry := sigs[i].Extra[exchange.MetaEntry]
		if entry == "" {
			continue
		}
		key, body := bank.EncodeValue(sigs[i].Type, sigs[i].Value)
		rows = append(rows, EntryRow{Entry: entry, Type: string(sigs[i].Type), Key: key, Body: body})
	}
	return n, w.addEntries(ctx, rows)
}

// addEntries records rows in exchange_entries, in key order: each leaf of
// its index is written once however the signals came.
func (w *exchangeWriter) addEntries(ctx context.Context, rows []EntryRow) error {
	if len(rows) == 0 {
		return nil
	}
	slices.SortFunc(rows, func(a, b EntryRow) int {
		if c := strings.Compare(a.Entry, b.Entry); c != 0 {
			return c
		}
		if c := strings.Compare(a.Type, b.Type); c != 0 {
			return c
		}
		return bytes.Compare(a.Key, b.Key)
	})
	if err := w.bw.AddEntries(ctx, w.xid, rows); err != nil {
		return fmt.Errorf("record exchange entries: %w", err)
	}
	return nil
}

// RowAdder is implemented by bulk writers that insert exchange.Rows (a
// merge's signals, encoded) without going through bank.Signal.
type RowAdder interface {
	// AddRows is BulkWriter.Add for rows.
	AddRows(ctx context.Context, rows []exchange.Row) (bank.AddCounts, error)
}

// AddRows implements exchange.RowWriter: Add for a merge's rows (the
// engine's RowAdder if it has one).
func (w *exchangeWriter) AddRows(ctx context.Context, rows []exchange.Row) (bank.AddCounts, error) {
	all := rows
	excluded := 0
	if w.excl {
		var err error
		if rows, excluded, err = w.c.dropExcludedRows(ctx, w.tx, w.bankID, rows); err != nil {
			return bank.AddCounts{}, fmt.Errorf("look up exclusions: %w", err)
		}
	}
	var n bank.AddCounts
	var err error
	if ra, ok := w.bw.(RowAdder); ok {
		n, err = ra.AddRows(ctx, rows)
	} else {
		n, err = w.bw.Add(ctx, exchange.RowSignals(rows))
	}
	n.Excluded = excluded
	if err != nil {
		return n, err
	}
	w.added += n.Added
	// Exchange entries for every row, excluded or not (as Add).
	entries := make([]EntryRow, 0, len(all))
	for _, r := range all {
		if r.Meta.Entry != "" {
			entries = append(entries, EntryRow{Entry: r.Meta.Entry, Type: string(r.Type), Key: r.Key, Body: r.Body})
		}
	}
	if err := w.addEntries(ctx, entries); err != nil {
		return n, err
	}
	return n, nil
}

// WithdrawEntries implements exchange.Writer.
func (w *exchangeWriter) WithdrawEntries(ctx context.Context, entries []string, reason string) (int, error) {
	var refs []bank.SignalRef
	for _, e := range entries {
		rs, err := queryAll(ctx, w.tx, func(r Row) (bank.SignalRef, error) {
			var typ string
			var key []byte
			var body sql.NullString
			err := r.Scan(&typ, &key, &body)
			t := bank.Type(typ)
			return bank.SignalRef{Type: t, Value: bank.DecodeValue(t, key, body.String)}, err
		}, `SELECT type, key, body FROM exchange_entries WHERE exchange_id = ? AND entry = ?`, w.xid, e)
		if err != nil {
			return 0, fmt.Errorf("look up exchange entry %s: %w", e, err)
		}
		refs = append(refs, rs...)
	}
	return w.Withdraw(ctx, refs, reason)
}

// CreatePartnerToken implements exchange.PartnerStore.
func (c *Core) CreatePartnerToken(ctx context.Context, name string, banks []string, hash []byte, by audit.Actor) (exchange.PartnerToken, error) {
	t := Now()
	p := exchange.PartnerToken{Name: name, Banks: banks, CreatedAt: t, CreatedBy: by.Name}
	bs, _ := json.Marshal(banks)
	err := c.write(ctx, func(tx Tx) error {
		err := tx.QueryRow(ctx, `INSERT INTO partner_tokens (name, hash, banks, created_at, created_by) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (name) DO NOTHING RETURNING id`, name, hash, string(bs), c.f.Time(t), by.Name).Scan(&p.ID)
		if isNoRows(err) {
			return exchange.ErrExists
		}
		if err != nil {
			return err
		}
		_, err = c.AppendTx(ctx, tx, by.Entry(exchange.ActPublish, name, map[string]any{"banks": banks}))
		return err
	})
	return p, err
}

// PartnerByHash implements exchange.PartnerStore.
func (c *Core) PartnerByHash(ctx context.Context, hash []byte) (exchange.PartnerToken, error) {
	var p exchange.PartnerToken
	var banks string
	err := c.eng.Reader().QueryRow(ctx, `SELECT id, name, banks, created_at, created_by FROM partner_tokens
		WHERE hash = ? AND revoked_at IS NULL`, hash).Scan(&p.ID, &p.Name, &banks, scanTime(&p.CreatedAt), &p.CreatedBy)
	if isNoRows(err) {
		return p, exchange.ErrNotFound
	}
	if err != nil {
		return p, err
	}
	return p, json.Unmarshal([]byte(banks), &p.Banks)
}
