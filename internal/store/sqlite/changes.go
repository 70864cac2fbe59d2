package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/nigehban/nigehban/internal/bank"
)

// Changes implements bank.Store.
func (db *DB) Changes(ctx context.Context, since int64, limit int) ([]bank.Change, error) {
	banks, err := bankIDs(ctx, db.r, nil, false)
	if err != nil {
		return nil, err
	}
	rows, err := db.r.QueryContext(ctx, `SELECT c.seq, c.op, c.bank_id, c.at, c.actor, c.detail, c.signal_id IS NOT NULL,
		s.id, s.bank_id, s.type, s.key, s.body, s.quality, s.added_at, s.category, s.source, s.note, s.extra, s.added_by,
		s.removed_at, s.removed_by, s.removed_reason
		FROM changes c LEFT JOIN signals s ON s.id = c.signal_id
		WHERE c.seq > ? ORDER BY c.seq LIMIT ?`, since, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var cs []bank.Change
	for rows.Next() {
		var c bank.Change
		var op string
		var bankID, at int64
		var detail sql.NullString
		var hasSignal bool
		var sigCols [15]any
		var (
			sid, sbank, squal, sadded sql.NullInt64
			styp, sbody, scat, ssrc   sql.NullString
			snote, saddedBy, sextra   sql.NullString
			sremovedAt                sql.NullInt64
			sremovedBy, sreason       sql.NullString
			skey                      []byte
		)
		sigCols = [15]any{&sid, &sbank, &styp, &skey, &sbody, &squal, &sadded, &scat, &ssrc, &snote, &sextra, &saddedBy, &sremovedAt, &sremovedBy, &sreason}
		dest := append([]any{&c.Seq, &op, &bankID, &at, &c.Actor, &detail, &hasSignal}, sigCols[:]...)
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		c.Op, c.Bank, c.At = bank.Op(op), banks[bankID], fromMicros(at)
		if detail.Valid && detail.String != "" {
			var d changeDetail
			if err := json.Unmarshal([]byte(detail.String), &d); err != nil {
				return nil, fmt.Errorf("change %d: bad detail: %w", c.Seq, err)
			}
			c.BankState, c.Reason = d.Bank, d.Reason
		}
		if hasSignal {
			if !sid.Valid {
				return nil, fmt.Errorf("change %d: signal missing", c.Seq)
			}
			s := &bank.Signal{ID: sid.Int64, Bank: banks[sbank.Int64], Type: bank.Type(styp.String),
				Quality: int(squal.Int64), AddedAt: fromMicros(sadded.Int64), Category: scat.String,
				Source: ssrc.String, Note: snote.String, AddedBy: saddedBy.String,
				RemovedBy: sremovedBy.String, RemovedReason: sreason.String}
			s.Value = bank.DecodeValue(s.Type, skey, sbody.String)
			var err error
			if s.Extra, err = bank.DecodeExtra(sextra.String); err != nil {
				return nil, fmt.Errorf("change %d: %w", c.Seq, err)
			}
			if sremovedAt.Valid {
				t := fromMicros(sremovedAt.Int64)
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
	err := db.r.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM changes`).Scan(&n)
	return n, err
}

// checkChangeLog verifies that the change log accounts for every bank and
// signal: one bank.create per bank, one signal.add per signal, one
// signal.remove per removed signal, and nothing pointing nowhere. A
// half-written transaction would break one of these counts.
func (db *DB) checkChangeLog(ctx context.Context) error {
	var banks, creates, signals, adds, removed, removes, orphans int64
	err := db.r.QueryRowContext(ctx, `SELECT
		(SELECT COUNT(*) FROM banks),
		(SELECT COUNT(*) FROM changes WHERE op = 'bank.create'),
		(SELECT COUNT(*) FROM signals),
		(SELECT COUNT(*) FROM changes WHERE op = 'signal.add'),
		(SELECT COUNT(*) FROM signals WHERE removed_at IS NOT NULL),
		(SELECT COUNT(*) FROM changes WHERE op = 'signal.remove'),
		(SELECT COUNT(*) FROM changes c WHERE c.signal_id IS NOT NULL
			AND NOT EXISTS (SELECT 1 FROM signals s WHERE s.id = c.signal_id AND s.bank_id = c.bank_id))`).
		Scan(&banks, &creates, &signals, &adds, &removed, &removes, &orphans)
	if err != nil {
		return fmt.Errorf("check change log: %w", err)
	}
	return consistency(banks, creates, signals, adds, removed, removes, orphans)
}

func consistency(banks, creates, signals, adds, removed, removes, orphans int64) error {
	switch {
	case banks != creates:
		return fmt.Errorf("change log inconsistent: %d banks, %d bank.create entries", banks, creates)
	case signals != adds:
		return fmt.Errorf("change log inconsistent: %d signals, %d signal.add entries", signals, adds)
	case removed != removes:
		return fmt.Errorf("change log inconsistent: %d removed signals, %d signal.remove entries", removed, removes)
	case orphans != 0:
		return fmt.Errorf("change log inconsistent: %d rows refer to missing banks or signals", orphans)
	}
	return nil
}
