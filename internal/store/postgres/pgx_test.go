package postgres

import "testing"

func TestRebind(t *testing.T) {
	tests := []struct{ in, want string }{
		{`SELECT 1`, `SELECT 1`},
		{`SELECT id FROM banks WHERE name = ?`, `SELECT id FROM banks WHERE name = $1`},
		{`UPDATE t SET a = ?, b = ? WHERE id = ? AND x = ANY(?)`, `UPDATE t SET a = $1, b = $2 WHERE id = $3 AND x = ANY($4)`},
		{`INSERT INTO t VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, `INSERT INTO t VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`},
	}
	for _, tt := range tests {
		for range 2 { // the second time from the cache
			if got := rebind(tt.in); got != tt.want {
				t.Errorf("rebind(%q) = %q, want %q", tt.in, got, tt.want)
			}
		}
	}
}
