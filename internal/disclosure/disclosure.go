// Package disclosure makes tables of counts safe to publish: cells below a
// threshold are suppressed (primary suppression) and further cells are
// suppressed (complementary suppression) so that no suppressed cell can be
// recomputed exactly from the published cells, the row and column totals,
// or other tables published by the same rules from the same data.
//
// # The guarantee and how it is kept
//
// A two-way table with its totals is a system of linear equations: each
// row of cells sums to its row total, each column to its column total, the
// totals to the grand total. A suppressed cell can be recomputed exactly
// when every solution of that system gives it the same value. Protect
// keeps two conditions that rule this out:
//
//  1. Every suppressed inner cell lies on a cycle of suppressed inner cells
//     (alternating between rows and columns, in the bipartite graph whose
//     nodes are rows and columns and whose edges are the suppressed
//     cells). Adding +d and -d alternately around the cycle changes no
//     total, so the cell's value is not determined. Because the cycle uses
//     inner cells only, the same change is invisible in any other table.
//  2. Totals are decided by OneWay, the protection of the one-way table of
//     the same variable (a cell per label and the grand total), which is
//     the same in every table that has that variable; and all rows (or
//     columns) whose totals are suppressed are connected by suppressed
//     inner cells, so moving d from one suppressed total to another along
//     such a path is again invisible.
//
// Several tables over the same data that share a variable (district by
// year, district by category) therefore stay protected together when each
// is made with the same threshold and the same margins (the default: the
// margins are computed by OneWay from the table's own totals, which are
// the same counts in every such table). A variable whose labels fall into
// groups published at their own level (districts in provinces) is
// protected with Options.RowGroups (or ColGroups): its totals then stay
// hidden given the groups' totals too (OneWayGroups; property-tested with
// a table of provinces by another variable). Inner cells of a district
// table and a province table by the same second variable are not linked
// by these rules, nor are tables over different subsets of the data (one
// year, then all years): publish those from one table, or protect them
// together outside this package.
//
// Complementary cells are chosen to lose the least information: the
// cheapest path (by the sum of count+1 of the newly suppressed cells) that
// closes a cycle or joins two suppressed totals, so small cells, zeros
// included, are preferred. The choice is deterministic: the same table
// always gives the same published table.
package disclosure

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// DefaultThreshold is the smallest count published when Options.Threshold
// is zero: cells counting 1 to 4 are suppressed.
const DefaultThreshold = 5

// ErrShape reports a table whose labels and counts do not agree, a negative
// count, or margins given in Options that do not fit the table.
var ErrShape = errors.New("disclosure: malformed table")

// Table is a two-way table of counts: Counts[r][c] counts the records with
// row label Rows[r] and column label Cols[c]. Totals are computed from the
// counts.
type Table struct {
	Rows   []string  `json:"rows"`
	Cols   []string  `json:"cols"`
	Counts [][]int64 `json:"counts"`
}

// Options tune Protect. The zero value uses DefaultThreshold and decides
// the totals with OneWay.
type Options struct {
	// Threshold is the smallest count published; 0 means DefaultThreshold.
	Threshold int64
	// RowMargins, when not nil, says which row totals are suppressed (one
	// per row), as an earlier publication of the same variable decided;
	// it must suppress every row total below the threshold. Nil computes
	// it with OneWay from the row totals.
	RowMargins []bool
	// ColMargins is RowMargins for the column totals.
	ColMargins []bool
	// RowGroups, when not nil, names the group of each row (a district's
	// province): row totals are then protected within each group
	// (OneWayGroups), so that publishing the groups' totals in another
	// table (provinces) recomputes no row total. ColGroups likewise.
	RowGroups []int
	ColGroups []int
}

// Cell is one published count. A suppressed cell has Suppressed set and
// Count zero: its count is never copied into a published table.
type Cell struct {
	Count      int64 `json:"count"`
	Suppressed bool  `json:"suppressed,omitempty"`
}

// String renders the cell for CSV and pages: the count, or "x" when
// suppressed.
func (c Cell) String() string {
	if c.Suppressed {
		return "x"
	}
	return strconv.FormatInt(c.Count, 10)
}

// Published is a protected table: the cells and totals to publish.
type Published struct {
	Rows      []string `json:"rows"`
	Cols      []string `json:"cols"`
	Cells     [][]Cell `json:"cells"`
	RowTotals []Cell   `json:"row_totals"`
	ColTotals []Cell   `json:"col_totals"`
	Total     Cell     `json:"total"`
	// Threshold is the threshold the table was protected with.
	Threshold int64 `json:"threshold"`
}

// Suppressed counts the suppressed cells and totals.
func (p *Published) Suppressed() int {
	n := 0
	for _, row := range p.Cells {
		for _, c := range row {
			if c.Suppressed {
				n++
			}
		}
	}
	for _, c := range p.RowTotals {
		if c.Suppressed {
			n++
		}
	}
	for _, c := range p.ColTotals {
		if c.Suppressed {
			n++
		}
	}
	if p.Total.Suppressed {
		n++
	}
	return n
}

// WriteCSV writes the table as CSV: a header of corner label, column labels
// and "Total", a line per row ending with its total, and a last "Total"
// line; suppressed cells read "x".
func (p *Published) WriteCSV(w io.Writer, corner string) error {
	cw := csv.NewWriter(w)
	rec := append(append([]string{corner}, p.Cols...), "Total")
	if err := cw.Write(rec); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	for r, row := range p.Cells {
		rec = rec[:0]
		rec = append(rec, p.Rows[r])
		for _, c := range row {
			rec = append(rec, c.String())
		}
		rec = append(rec, p.RowTotals[r].String())
		if err := cw.Write(rec); err != nil {
			return fmt.Errorf("write table: %w", err)
		}
	}
	rec = append(rec[:0], "Total")
	for _, c := range p.ColTotals {
		rec = append(rec, c.String())
	}
	rec = append(rec, p.Total.String())
	if err := cw.Write(rec); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	return nil
}

func threshold(t int64) int64 {
	if t <= 0 {
		return DefaultThreshold
	}
	return t
}

// OneWay protects a one-way table (a count per label and their total) and
// reports which counts to suppress and whether to suppress the total. A
// count below the threshold and above zero is suppressed; when exactly one
// is, the smallest other count (the first of equals; a nonzero one when
// there is one) is suppressed with it, so neither follows from the total.
// When the total itself is below the threshold (and above zero) everything
// is suppressed. The result depends only on the counts and the threshold,
// so every table sharing this variable suppresses the same totals.
func OneWay(counts []int64, thresh int64) (suppressed []bool, total bool) {
	t := threshold(thresh)
	suppressed = make([]bool, len(counts))
	var sum int64
	for _, v := range counts {
		sum += v
	}
	if sum > 0 && sum < t {
		for i := range suppressed {
			suppressed[i] = true
		}
		return suppressed, true
	}
	n := 0
	for i, v := range counts {
		if v > 0 && v < t {
			suppressed[i] = true
			n++
		}
	}
	if n == 1 {
		best := -1
		for i, v := range counts {
			if suppressed[i] {
				continue
			}
			if best < 0 || better(v, counts[best]) {
				best = i
			}
		}
		if best >= 0 {
			suppressed[best] = true
		}
	}
	return suppressed, false
}

// OneWayGroups protects a one-way table whose labels fall into groups
// (districts in provinces) whose totals are published elsewhere, protected
// by OneWay (the provinces' own table): each group is protected by OneWay
// on its own, so no suppressed count follows from a published group total;
// and every group whose total OneWay suppresses keeps at least one
// suppressed member, so the suppressed groups' members can trade counts
// among themselves without changing any published total.
func OneWayGroups(counts []int64, groups []int, thresh int64) []bool {
	suppressed := make([]bool, len(counts))
	members := map[int][]int{}
	var order []int
	for i, g := range groups {
		if _, ok := members[g]; !ok {
			order = append(order, g)
		}
		members[g] = append(members[g], i)
	}
	groupTot := make([]int64, len(order))
	for k, g := range order {
		for _, i := range members[g] {
			groupTot[k] += counts[i]
		}
	}
	groupSup, _ := OneWay(groupTot, thresh)
	for k, g := range order {
		idx := members[g]
		sub := make([]int64, len(idx))
		for j, i := range idx {
			sub[j] = counts[i]
		}
		s, _ := OneWay(sub, thresh)
		any := false
		for j, i := range idx {
			suppressed[i] = s[j]
			any = any || s[j]
		}
		if groupSup[k] && !any {
			best := idx[0]
			for _, i := range idx[1:] {
				if better(counts[i], counts[best]) {
					best = i
				}
			}
			suppressed[best] = true
		}
	}
	return suppressed
}

// better reports whether count a is a cheaper complement than b: the
// smaller nonzero count, zeros last.
func better(a, b int64) bool {
	if (a == 0) != (b == 0) {
		return a != 0
	}
	return a < b
}

// Protect suppresses the cells of t that could identify someone and the
// cells needed to keep them from being recomputed (see the package
// comment), and returns the table to publish. It fails with ErrShape when
// t is malformed or opt's margins do not fit it.
func Protect(t Table, opt Options) (*Published, error) {
	R, C := len(t.Rows), len(t.Cols)
	if len(t.Counts) != R {
		return nil, fmt.Errorf("%w: %d rows of counts for %d row labels", ErrShape, len(t.Counts), R)
	}
	th := threshold(opt.Threshold)
	rowTot := make([]int64, R)
	colTot := make([]int64, C)
	var total int64
	for r, row := range t.Counts {
		if len(row) != C {
			return nil, fmt.Errorf("%w: row %d has %d counts for %d column labels", ErrShape, r, len(row), C)
		}
		for c, v := range row {
			if v < 0 {
				return nil, fmt.Errorf("%w: negative count at row %d, column %d", ErrShape, r, c)
			}
			rowTot[r] += v
			colTot[c] += v
			total += v
		}
	}
	if opt.RowMargins != nil && len(opt.RowMargins) != R || opt.ColMargins != nil && len(opt.ColMargins) != C ||
		opt.RowGroups != nil && len(opt.RowGroups) != R || opt.ColGroups != nil && len(opt.ColGroups) != C {
		return nil, fmt.Errorf("%w: margins given for %d rows and %d columns of a %d×%d table",
			ErrShape, len(opt.RowMargins), len(opt.ColMargins), R, C)
	}
	sup := make([][]bool, R)
	for r := range sup {
		sup[r] = make([]bool, C)
	}
	var rowSup, colSup []bool
	totalSup := total > 0 && total < th
	switch {
	case totalSup:
		rowSup, colSup = all(R), all(C)
		for r := range sup {
			copy(sup[r], all(C))
		}
	default:
		var err error
		if rowSup, err = margins(opt.RowMargins, opt.RowGroups, rowTot, th, "row"); err != nil {
			return nil, err
		}
		if colSup, err = margins(opt.ColMargins, opt.ColGroups, colTot, th, "column"); err != nil {
			return nil, err
		}
		switch {
		case R == 1:
			// The only row is the column totals: its cells are suppressed
			// exactly where they are.
			copy(sup[0], colSup)
		case C == 1:
			for r := range sup {
				sup[r][0] = rowSup[r]
			}
		default:
			for r, row := range t.Counts {
				for c, v := range row {
					sup[r][c] = v > 0 && v < th
				}
			}
			g := &grid{R: R, C: C, counts: t.Counts, sup: sup}
			g.complete(rowSup, colSup)
		}
	}
	p := &Published{
		Rows: append([]string(nil), t.Rows...), Cols: append([]string(nil), t.Cols...),
		Cells: make([][]Cell, R), RowTotals: make([]Cell, R), ColTotals: make([]Cell, C),
		Total: cell(total, totalSup), Threshold: th,
	}
	for r, row := range t.Counts {
		p.Cells[r] = make([]Cell, C)
		for c, v := range row {
			p.Cells[r][c] = cell(v, sup[r][c])
		}
		p.RowTotals[r] = cell(rowTot[r], rowSup[r])
	}
	for c, v := range colTot {
		p.ColTotals[c] = cell(v, colSup[c])
	}
	return p, nil
}

func cell(v int64, suppressed bool) Cell {
	if suppressed {
		return Cell{Suppressed: true}
	}
	return Cell{Count: v}
}

func all(n int) []bool {
	s := make([]bool, n)
	for i := range s {
		s[i] = true
	}
	return s
}

// margins returns the suppression of a table's totals: given ones checked
// against the threshold, else OneWay's (by group when groups are given).
func margins(given []bool, groups []int, tot []int64, th int64, what string) ([]bool, error) {
	if given == nil {
		if groups != nil {
			return OneWayGroups(tot, groups, th), nil
		}
		s, _ := OneWay(tot, th)
		return s, nil
	}
	n := 0
	for i, v := range tot {
		if v > 0 && v < th && !given[i] {
			return nil, fmt.Errorf("%w: %s total %d (%d) is below the threshold but not suppressed", ErrShape, what, i, v)
		}
		if given[i] {
			n++
		}
	}
	if n == 1 {
		return nil, fmt.Errorf("%w: exactly one %s total suppressed (it would follow from the grand total)", ErrShape, what)
	}
	return append([]bool(nil), given...), nil
}
