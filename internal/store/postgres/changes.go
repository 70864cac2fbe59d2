package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/nigehban/nigehban/internal/bank"
)

// Changes implements bank.Store.
func (db *DB) Changes(ctx context.Context, since int64, limit int) ([]bank.Change, error) {
	banks, err := bankIDs(ctx, db.pool, nil, false)
	if err != nil {
		return nil, err
	}
	rows, err := db.pool.Query(ctx, `SELECT c.seq, c.op, c.bank_id, c.at, c.actor, c.detail::text,
		s.id, s.bank_id, s.type, s.key, s.body, s.quality, s.added_at, s.category, s.source, s.note, s.extra, s.added_by,
		s.removed_at, s.removed_by, s.removed_reason, c.signal_id
		FROM changes c LEFT JOIN signals s ON s.id = c.signal_id
		WHERE c.seq > $1 ORDER BY c.seq LIMIT $2`, since, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var cs []bank.Change
	for rows.Next() {
		var c bank.Change
		var op string
		var bankID int64
		var detail *string
		var sig struct {
			id, bankID, signalID *int64
			typ, body, cat, src  *string
			note, addedBy, extra *string
			removedBy, reason    *string
			quality              *int16
			key                  []byte
		}
		var addedAt, removedAt *time.Time
		if err := rows.Scan(&c.Seq, &op, &bankID, &c.At, &c.Actor, &detail,
			&sig.id, &sig.bankID, &sig.typ, &sig.key, &sig.body, &sig.quality, &addedAt, &sig.cat, &sig.src,
			&sig.note, &sig.extra, &sig.addedBy, &removedAt, &sig.removedBy, &sig.reason, &sig.signalID); err != nil {
			return nil, err
		}
		c.Op, c.Bank, c.At = bank.Op(op), banks[bankID], c.At.UTC()
		if detail != nil && *detail != "" {
			var d changeDetail
			if err := json.Unmarshal([]byte(*detail), &d); err != nil {
				return nil, fmt.Errorf("change %d: bad detail: %w", c.Seq, err)
			}
			c.BankState, c.Reason = d.Bank, d.Reason
		}
		if sig.signalID != nil {
			if sig.id == nil {
				return nil, fmt.Errorf("change %d: signal missing", c.Seq)
			}
			s := &bank.Signal{ID: *sig.id, Bank: banks[*sig.bankID], Type: bank.Type(*sig.typ),
				Quality: int(*sig.quality), AddedAt: addedAt.UTC(), Category: *sig.cat, Source: *sig.src,
				Note: *sig.note, AddedBy: *sig.addedBy}
			s.Value = bank.DecodeValue(s.Type, sig.key, deref(sig.body))
			s.RemovedBy, s.RemovedReason = deref(sig.removedBy), deref(sig.reason)
			var err error
			if s.Extra, err = bank.DecodeExtra(deref(sig.extra)); err != nil {
				return nil, fmt.Errorf("change %d: %w", c.Seq, err)
			}
			if removedAt != nil {
				t := removedAt.UTC()
				s.RemovedAt = &t
			}
			c.Signal = s
		}
		cs = append(cs, c)
	}
	return cs, rows.Err()
}

// LastSeq implements bank.Store.
func (db *DB) LastSeq(ctx context.Context) (int64, error) {
	var n int64
	err := db.pool.QueryRow(ctx, `SELECT COALESCE(MAX(seq), 0) FROM changes`).Scan(&n)
	return n, err
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
