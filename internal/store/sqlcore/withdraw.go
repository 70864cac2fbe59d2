package sqlcore

import (
	"context"
	"fmt"
	"time"

	"github.com/nigehban/nigehban/internal/bank"
)

// withdrawal is a signal a signalWriter removed, to be logged.
type withdrawal struct {
	id     int64
	at     time.Time
	reason string
}

// Withdraw removes the active signals refs name by type and value, without
// excluding their values (an exchange withdrawing a hash may share it again;
// a curator's removal goes through RemoveSignal, which excludes). Values not
// active in the bank are skipped. The change-log entries are appended at the
// end of the transaction (logWithdrawals).
func (w *signalWriter) Withdraw(ctx context.Context, refs []bank.SignalRef, reason string) (int, error) {
	n := 0
	for _, ref := range refs {
		key, _ := bank.EncodeValue(ref.Type, ref.Value)
		t := Now()
		var id int64
		err := w.tx.QueryRow(ctx, `UPDATE signals SET removed_at = ?, removed_by = ?, removed_reason = ?
			WHERE bank_id = ? AND type = ? AND key = ? AND removed_at IS NULL RETURNING id`,
			w.c.f.Time(t), w.actor, reason, w.bankID, string(ref.Type), key).Scan(&id)
		if isNoRows(err) {
			continue
		}
		if err != nil {
			return n, fmt.Errorf("withdraw %s %s: %w", ref.Type, ref.Value, err)
		}
		w.withdrawn = append(w.withdrawn, withdrawal{id: id, at: t, reason: reason})
		n++
	}
	return n, nil
}

// logWithdrawals appends the signal.remove entries of every withdrawn
// signal.
func (w *signalWriter) logWithdrawals(ctx context.Context) error {
	if len(w.withdrawn) == 0 {
		return nil
	}
	var first int64
	if w.c.f.ReserveChanges != nil {
		var err error
		if first, err = w.c.f.ReserveChanges(ctx, w.tx, len(w.withdrawn)); err != nil {
			return err
		}
	}
	for i, r := range w.withdrawn {
		var seq any
		if w.c.f.ReserveChanges != nil {
			seq = first + int64(i)
		}
		if _, err := w.tx.Exec(ctx, `INSERT INTO changes (seq, bank_id, op, signal_id, at, actor, detail) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			seq, w.bankID, string(bank.OpSignalRemove), r.id, w.c.f.Time(r.at), w.actor, changeDetail{Reason: r.reason}.encode()); err != nil {
			return fmt.Errorf("append change: %w", err)
		}
	}
	return nil
}
