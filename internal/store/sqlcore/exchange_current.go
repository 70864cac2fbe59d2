package sqlcore

import (
	"context"
	"fmt"

	"github.com/nigehban/nigehban/internal/bank"
)

// Current implements exchange.Writer: the bank's active signals that the
// exchange's entries brought (through exchange_entries) and those holding
// one of refs' values, in batches of 500 (a few queries a page).
func (w *exchangeWriter) Current(ctx context.Context, entries []string, refs []bank.SignalRef) ([]bank.Signal, error) {
	scan := func(r Row) (bank.Signal, error) {
		var s bank.Signal
		return s, scanSignal(r, &s, nil)
	}
	var out []bank.Signal
	cols := "s.id, s.bank_id, s.type, s.key, s.body, s.quality, s.added_at, s.category, s.source, s.note, s.extra, s.added_by, s.removed_at, s.removed_by, s.removed_reason"
	for len(entries) > 0 {
		n := min(len(entries), 500)
		cond, args := w.c.f.In("e.entry", entries[:n])
		entries = entries[n:]
		ss, err := queryAll(ctx, w.tx, scan, `SELECT `+cols+` FROM exchange_entries e
			JOIN signals s ON s.bank_id = ? AND s.type = e.type AND s.key = e.key AND s.removed_at IS NULL
			WHERE e.exchange_id = ? AND `+cond, append([]any{w.bankID, w.xid}, args...)...)
		if err != nil {
			return nil, fmt.Errorf("signals of exchange entries: %w", err)
		}
		out = append(out, ss...)
	}
	byType := map[bank.Type][][]byte{}
	for _, r := range refs {
		key, _ := bank.EncodeValue(r.Type, r.Value)
		byType[r.Type] = append(byType[r.Type], key)
	}
	for t, keys := range byType {
		for len(keys) > 0 {
			n := min(len(keys), 500)
			cond, args := w.c.f.In("s.key", keys[:n])
			keys = keys[n:]
			ss, err := queryAll(ctx, w.tx, scan, `SELECT `+cols+` FROM signals s
				WHERE s.bank_id = ? AND s.type = ? AND s.removed_at IS NULL AND `+cond,
				append([]any{w.bankID, string(t)}, args...)...)
			if err != nil {
				return nil, fmt.Errorf("active signals by value: %w", err)
			}
			out = append(out, ss...)
		}
	}
	return out, nil
}
