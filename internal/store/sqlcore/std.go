package sqlcore

import (
	"context"
	"database/sql"
)

// StdConn is what *sql.DB, *sql.Conn and *sql.Tx have in common.
type StdConn interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// Std adapts a database/sql handle to Querier.
func Std(q StdConn) Querier { return stdQuerier{q} }

type stdQuerier struct{ q StdConn }

func (s stdQuerier) QueryRow(ctx context.Context, query string, args ...any) Row {
	return s.q.QueryRowContext(ctx, query, args...)
}

func (s stdQuerier) Query(ctx context.Context, query string, args ...any) (Rows, error) {
	rows, err := s.q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return stdRows{rows}, nil
}

func (s stdQuerier) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	res, err := s.q.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

type stdRows struct{ *sql.Rows }

func (r stdRows) Close() { r.Rows.Close() }

// StdTx is a database/sql transaction as a Tx; Raw is the transaction
// itself, for engine code.
type StdTx struct {
	Querier
	Raw *sql.Tx
}

// NewStdTx wraps tx.
func NewStdTx(tx *sql.Tx) *StdTx { return &StdTx{Querier: Std(tx), Raw: tx} }

// Commit implements Tx.
func (t *StdTx) Commit(context.Context) error { return t.Raw.Commit() }

// Rollback implements Tx.
func (t *StdTx) Rollback(context.Context) error {
	if err := t.Raw.Rollback(); err != nil && err != sql.ErrTxDone {
		return err
	}
	return nil
}
