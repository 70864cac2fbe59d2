package postgres

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/nigehban/nigehban/internal/store/sqlcore"
)

// pgxConn is what *pgxpool.Pool and pgx.Tx have in common.
type pgxConn interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// querier adapts pgx to sqlcore.Querier: it rewrites the core's '?'
// placeholders to $1, $2, … and reports no rows as sqlcore.ErrNoRows.
type querier struct{ c pgxConn }

func (q querier) QueryRow(ctx context.Context, query string, args ...any) sqlcore.Row {
	return row{q.c.QueryRow(ctx, rebind(query), args...)}
}

func (q querier) Query(ctx context.Context, query string, args ...any) (sqlcore.Rows, error) {
	return q.c.Query(ctx, rebind(query), args...)
}

func (q querier) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	tag, err := q.c.Exec(ctx, rebind(query), args...)
	return tag.RowsAffected(), err
}

type row struct{ pgx.Row }

func (r row) Scan(dest ...any) error {
	err := r.Row.Scan(dest...)
	if errors.Is(err, pgx.ErrNoRows) {
		return sqlcore.ErrNoRows
	}
	return err
}

// tx is a pgx transaction as a sqlcore.Tx.
type tx struct {
	querier
	raw pgx.Tx
}

func (t *tx) Commit(ctx context.Context) error { return t.raw.Commit(ctx) }

func (t *tx) Rollback(ctx context.Context) error {
	if err := t.raw.Rollback(ctx); err != nil && !errors.Is(err, pgx.ErrTxClosed) {
		return err
	}
	return nil
}

// rebound caches rewritten queries: the core's queries are a fixed set.
var rebound sync.Map

// rebind rewrites each '?' of query to $1, $2, …; none of the core's
// queries has a '?' inside a literal.
func rebind(query string) string {
	if v, ok := rebound.Load(query); ok {
		return v.(string)
	}
	var sb strings.Builder
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] == '?' {
			n++
			sb.WriteByte('$')
			sb.WriteString(strconv.Itoa(n))
			continue
		}
		sb.WriteByte(query[i])
	}
	out := sb.String()
	if n > 0 {
		rebound.Store(query, out)
	}
	return out
}
