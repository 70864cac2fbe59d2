package sqlcore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/nigehban/nigehban/internal/bank"
)

// Changes implements bank.Store.
func (c *Core) Changes(ctx context.Context, since int64, limit int) ([]bank.Change, error) {
	r := c.eng.Reader()
	banks, err := c.bankIDs(ctx, r, nil, false)
	if err != nil {
		return nil, err
	}
	rows, err := r.Query(ctx, `SELECT c.seq, c.op, c.bank_id, c.at, c.actor, CAST(c.detail AS TEXT), c.signal_id,
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
		var ch bank.Change
		var op string
		var bankID int64
		var detail sql.NullString
		var signalID sql.NullInt64
		var (
			sid, sbank, squal       sql.NullInt64
			styp, sbody, scat, ssrc sql.NullString
			snote, saddedBy, sextra sql.NullString
			sremovedBy, sreason     sql.NullString
			skey                    []byte
			saddedAt, sremovedAt    *time.Time
		)
		if err := rows.Scan(&ch.Seq, &op, &bankID, scanTime(&ch.At), &ch.Actor, &detail, &signalID,
			&sid, &sbank, &styp, &skey, &sbody, &squal, scanNullTime(&saddedAt), &scat, &ssrc, &snote, &sextra, &saddedBy,
			scanNullTime(&sremovedAt), &sremovedBy, &sreason); err != nil {
			return nil, err
		}
		ch.Op, ch.Bank = bank.Op(op), banks[bankID]
		if detail.Valid && detail.String != "" {
			var d changeDetail
			if err := json.Unmarshal([]byte(detail.String), &d); err != nil {
				return nil, fmt.Errorf("change %d: bad detail: %w", ch.Seq, err)
			}
			ch.BankState, ch.Reason = d.Bank, d.Reason
		}
		if signalID.Valid {
			if !sid.Valid || saddedAt == nil {
				return nil, fmt.Errorf("change %d: signal missing", ch.Seq)
			}
			s := &bank.Signal{ID: sid.Int64, Bank: banks[sbank.Int64], Type: bank.Type(styp.String),
				Quality: int(squal.Int64), AddedAt: *saddedAt, Category: scat.String,
				Source: ssrc.String, Note: snote.String, AddedBy: saddedBy.String,
				RemovedAt: sremovedAt, RemovedBy: sremovedBy.String, RemovedReason: sreason.String}
			s.Value = bank.DecodeValue(s.Type, skey, sbody.String)
			var err error
			if s.Extra, err = bank.DecodeExtra(sextra.String); err != nil {
				return nil, fmt.Errorf("change %d: %w", ch.Seq, err)
			}
			ch.Signal = s
		}
		cs = append(cs, ch)
	}
	return cs, rows.Err()
}

// LastSeq implements bank.Store.
func (c *Core) LastSeq(ctx context.Context) (int64, error) {
	var n int64
	err := c.eng.Reader().QueryRow(ctx, `SELECT COALESCE(MAX(seq), 0) FROM changes`).Scan(&n)
	return n, err
}

// Check runs the engine's own integrity checks, then verifies that the
// change log accounts for every bank and signal: one bank.create per bank,
// one signal.add per signal, one signal.remove per removed signal, and
// nothing (change, signal, exclusion) pointing nowhere. A half-written transaction would break one of
// these counts. It returns nil when all pass.
func (c *Core) Check(ctx context.Context) error {
	r := c.eng.Reader()
	if c.f.CheckEngine != nil {
		if err := c.f.CheckEngine(ctx, r); err != nil {
			return err
		}
	}
	var banks, creates, signals, adds, removed, removes, orphans int64
	err := r.QueryRow(ctx, `SELECT
		(SELECT COUNT(*) FROM banks),
		(SELECT COUNT(*) FROM changes WHERE op = 'bank.create'),
		(SELECT COUNT(*) FROM signals),
		(SELECT COUNT(*) FROM changes WHERE op = 'signal.add'),
		(SELECT COUNT(*) FROM signals WHERE removed_at IS NOT NULL),
		(SELECT COUNT(*) FROM changes WHERE op = 'signal.remove'),
		(SELECT COUNT(*) FROM changes c WHERE c.signal_id IS NOT NULL
			AND NOT EXISTS (SELECT 1 FROM signals s WHERE s.id = c.signal_id AND s.bank_id = c.bank_id))
		+ (SELECT COUNT(*) FROM changes c WHERE NOT EXISTS (SELECT 1 FROM banks b WHERE b.id = c.bank_id))
		+ (SELECT COUNT(*) FROM signals s WHERE NOT EXISTS (SELECT 1 FROM banks b WHERE b.id = s.bank_id))
		+ (SELECT COUNT(*) FROM exclusions x WHERE NOT EXISTS (SELECT 1 FROM banks b WHERE b.id = x.bank_id))`).
		Scan(&banks, &creates, &signals, &adds, &removed, &removes, &orphans)
	if err != nil {
		return fmt.Errorf("check change log: %w", err)
	}
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
