package disclosure

import (
	"bytes"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"testing"

	"pgregory.net/rapid"
)

// system is a linear system over the suppressed values of published
// tables: what someone who reads the tables knows. Each equation is
// Σ coef·var = rhs, with the published values moved to the right.
type system struct {
	vars map[string]int
	eqs  []map[int]int64
	rhs  []int64
}

func newSystem() *system { return &system{vars: map[string]int{}} }

type term struct {
	key  string
	cell Cell
	coef int64
}

// add records Σ terms = 0, where suppressed cells are unknowns named by key.
func (s *system) add(terms ...term) {
	eq := map[int]int64{}
	var rhs int64
	for _, t := range terms {
		if !t.cell.Suppressed {
			rhs -= t.coef * t.cell.Count
			continue
		}
		i, ok := s.vars[t.key]
		if !ok {
			i = len(s.vars)
			s.vars[t.key] = i
		}
		eq[i] += t.coef
	}
	s.eqs = append(s.eqs, eq)
	s.rhs = append(s.rhs, rhs)
}

// addTable adds a published table's equations; rowVar and colVar name its
// variables, so tables sharing a variable share its totals' unknowns.
func (s *system) addTable(name, rowVar, colVar string, p *Published) {
	rk := func(r int) string { return fmt.Sprintf("margin/%s/%s", rowVar, p.Rows[r]) }
	ck := func(c int) string { return fmt.Sprintf("margin/%s/%s", colVar, p.Cols[c]) }
	for r := range p.Rows {
		ts := []term{{rk(r), p.RowTotals[r], -1}}
		for c := range p.Cols {
			ts = append(ts, term{fmt.Sprintf("%s/%d/%d", name, r, c), p.Cells[r][c], 1})
		}
		s.add(ts...)
	}
	for c := range p.Cols {
		ts := []term{{ck(c), p.ColTotals[c], -1}}
		for r := range p.Rows {
			ts = append(ts, term{fmt.Sprintf("%s/%d/%d", name, r, c), p.Cells[r][c], 1})
		}
		s.add(ts...)
	}
	ts := []term{{"total", p.Total, -1}}
	for r := range p.Rows {
		ts = append(ts, term{rk(r), p.RowTotals[r], 1})
	}
	s.add(ts...)
	ts = []term{{"total", p.Total, -1}}
	for c := range p.Cols {
		ts = append(ts, term{ck(c), p.ColTotals[c], 1})
	}
	s.add(ts...)
}

// determined solves the system exactly (Gauss-Jordan over the rationals)
// and returns the unknowns every solution gives the same value, with that
// value: a pivot variable whose reduced row has no free variable.
func (s *system) determined() map[string]*big.Rat {
	n := len(s.vars)
	m := make([][]*big.Rat, len(s.eqs))
	for i, eq := range s.eqs {
		m[i] = make([]*big.Rat, n+1)
		for j := range m[i] {
			m[i][j] = new(big.Rat)
		}
		for j, v := range eq {
			m[i][j].SetInt64(v)
		}
		m[i][n].SetInt64(s.rhs[i])
	}
	pivotRow := 0
	pivots := map[int]int{}
	for col := 0; col < n && pivotRow < len(m); col++ {
		p := -1
		for i := pivotRow; i < len(m); i++ {
			if m[i][col].Sign() != 0 {
				p = i
				break
			}
		}
		if p < 0 {
			continue
		}
		m[pivotRow], m[p] = m[p], m[pivotRow]
		inv := new(big.Rat).Inv(m[pivotRow][col])
		for j := col; j <= n; j++ {
			m[pivotRow][j].Mul(m[pivotRow][j], inv)
		}
		for i := range m {
			if i == pivotRow || m[i][col].Sign() == 0 {
				continue
			}
			f := new(big.Rat).Set(m[i][col])
			for j := col; j <= n; j++ {
				m[i][j].Sub(m[i][j], new(big.Rat).Mul(f, m[pivotRow][j]))
			}
		}
		pivots[col] = pivotRow
		pivotRow++
	}
	names := make([]string, n)
	for k, i := range s.vars {
		names[i] = k
	}
	out := map[string]*big.Rat{}
	for col, row := range pivots {
		free := false
		for j := 0; j < n; j++ {
			if j != col && m[row][j].Sign() != 0 {
				free = true
				break
			}
		}
		if !free {
			out[names[col]] = m[row][n]
		}
	}
	return out
}

func labels(prefix string, n int) []string {
	s := make([]string, n)
	for i := range s {
		s[i] = fmt.Sprintf("%s%d", prefix, i)
	}
	return s
}

// count draws counts as registries see them: mostly small, some zeros,
// some large.
func count() *rapid.Generator[int64] {
	return rapid.OneOf(rapid.Int64Range(0, 0), rapid.Int64Range(1, 6), rapid.Int64Range(0, 40))
}

// checkPublished asserts what every published table must satisfy: the
// published values are the true ones, every cell and total below the
// threshold is suppressed, and suppressed cells carry no count.
func checkPublished(t *rapid.T, tab Table, p *Published) {
	var total int64
	colTot := make([]int64, len(tab.Cols))
	for r, row := range tab.Counts {
		var rt int64
		for c, v := range row {
			rt += v
			colTot[c] += v
			checkCell(t, fmt.Sprintf("cell %d,%d", r, c), v, p.Cells[r][c], p.Threshold)
		}
		total += rt
		checkCell(t, fmt.Sprintf("row total %d", r), rt, p.RowTotals[r], p.Threshold)
	}
	for c, v := range colTot {
		checkCell(t, fmt.Sprintf("column total %d", c), v, p.ColTotals[c], p.Threshold)
	}
	checkCell(t, "total", total, p.Total, p.Threshold)
}

func checkCell(t *rapid.T, what string, v int64, c Cell, th int64) {
	if c.Suppressed {
		if c.Count != 0 {
			t.Fatalf("%s: suppressed but carries count %d", what, c.Count)
		}
		return
	}
	if c.Count != v {
		t.Fatalf("%s: published %d, true %d", what, c.Count, v)
	}
	if v > 0 && v < th {
		t.Fatalf("%s: %d below threshold %d published", what, v, th)
	}
}

// TestProtectNothingRecomputable is the property the package promises:
// for random tables, solving the linear system of the published cells and
// totals exactly determines no suppressed value.
func TestProtectNothingRecomputable(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		R := rapid.IntRange(1, 7).Draw(t, "rows")
		C := rapid.IntRange(1, 7).Draw(t, "cols")
		th := rapid.Int64Range(2, 6).Draw(t, "threshold")
		tab := Table{Rows: labels("r", R), Cols: labels("c", C), Counts: make([][]int64, R)}
		for r := range tab.Counts {
			tab.Counts[r] = rapid.SliceOfN(count(), C, C).Draw(t, fmt.Sprintf("row%d", r))
		}
		p, err := Protect(tab, Options{Threshold: th})
		if err != nil {
			t.Fatal(err)
		}
		checkPublished(t, tab, p)
		s := newSystem()
		s.addTable("t", "R", "C", p)
		if d := s.determined(); len(d) > 0 {
			t.Fatalf("recomputable suppressed values %v in %+v", d, p)
		}
	})
}

// TestProtectLinkedTables checks tables of the same records that share a
// variable (rows by a, rows by b, and the one-way table of the rows): their
// equations together determine no suppressed value.
func TestProtectLinkedTables(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		R := rapid.IntRange(2, 6).Draw(t, "rows")
		A := rapid.IntRange(1, 5).Draw(t, "a")
		B := rapid.IntRange(1, 5).Draw(t, "b")
		// Records counted by (row, a, b); the tables are its two-way sums.
		ta := Table{Rows: labels("r", R), Cols: labels("a", A), Counts: make([][]int64, R)}
		tb := Table{Rows: labels("r", R), Cols: labels("b", B), Counts: make([][]int64, R)}
		for r := 0; r < R; r++ {
			ta.Counts[r] = make([]int64, A)
			tb.Counts[r] = make([]int64, B)
			for a := 0; a < A; a++ {
				for b := 0; b < B; b++ {
					v := count().Draw(t, fmt.Sprintf("n%d.%d.%d", r, a, b))
					ta.Counts[r][a] += v
					tb.Counts[r][b] += v
				}
			}
		}
		pa, err := Protect(ta, Options{})
		if err != nil {
			t.Fatal(err)
		}
		pb, err := Protect(tb, Options{})
		if err != nil {
			t.Fatal(err)
		}
		checkPublished(t, ta, pa)
		checkPublished(t, tb, pb)
		for r := range pa.RowTotals {
			if pa.RowTotals[r] != pb.RowTotals[r] {
				t.Fatalf("row total %d published as %v and %v", r, pa.RowTotals[r], pb.RowTotals[r])
			}
		}
		s := newSystem()
		s.addTable("a", "R", "A", pa)
		s.addTable("b", "R", "B", pb)
		if d := s.determined(); len(d) > 0 {
			t.Fatalf("recomputable suppressed values %v from\n%+v\n%+v", d, pa, pb)
		}
	})
}

// TestSolverFindsDisclosure keeps the property tests honest: suppressing
// only the small cells (no complementary suppression) of a table lets the
// solver recompute them.
func TestSolverFindsDisclosure(t *testing.T) {
	p := &Published{
		Rows: labels("r", 2), Cols: labels("c", 2),
		Cells:     [][]Cell{{{Suppressed: true}, {Count: 10}}, {{Count: 7}, {Count: 8}}},
		RowTotals: []Cell{{Count: 12}, {Count: 15}}, ColTotals: []Cell{{Count: 9}, {Count: 18}},
		Total: Cell{Count: 27},
	}
	s := newSystem()
	s.addTable("t", "R", "C", p)
	d := s.determined()
	if v := d["t/0/0"]; v == nil || v.Cmp(big.NewRat(2, 1)) != 0 {
		t.Fatalf("solver found %v, want t/0/0 = 2", d)
	}
}

func TestOneWay(t *testing.T) {
	for _, tc := range []struct {
		counts []int64
		want   []bool
		total  bool
	}{
		{[]int64{10, 20, 30}, []bool{false, false, false}, false},
		{[]int64{3, 20, 30}, []bool{true, true, false}, false},
		{[]int64{3, 0, 30, 9}, []bool{true, false, false, true}, false},
		{[]int64{3, 2, 30}, []bool{true, true, false}, false},
		{[]int64{1, 2}, []bool{true, true}, true},
		{[]int64{0, 0}, []bool{false, false}, false},
		{[]int64{4, 0}, []bool{true, true}, true},
		{[]int64{4, 0, 0, 9}, []bool{true, false, false, true}, false},
	} {
		got, total := OneWay(tc.counts, 5)
		if fmt.Sprint(got) != fmt.Sprint(tc.want) || total != tc.total {
			t.Errorf("OneWay(%v) = %v, %v; want %v, %v", tc.counts, got, total, tc.want, tc.total)
		}
	}
}

func TestProtectErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		tab Table
		opt Options
	}{
		"rows":     {Table{Rows: labels("r", 2), Cols: labels("c", 1), Counts: [][]int64{{1}}}, Options{}},
		"cols":     {Table{Rows: labels("r", 1), Cols: labels("c", 2), Counts: [][]int64{{1}}}, Options{}},
		"negative": {Table{Rows: labels("r", 1), Cols: labels("c", 1), Counts: [][]int64{{-1}}}, Options{}},
		"margins":  {Table{Rows: labels("r", 2), Cols: labels("c", 1), Counts: [][]int64{{1}, {9}}}, Options{RowMargins: []bool{false, false}}},
		"one":      {Table{Rows: labels("r", 2), Cols: labels("c", 1), Counts: [][]int64{{10}, {9}}}, Options{RowMargins: []bool{true, false}}},
		"length":   {Table{Rows: labels("r", 2), Cols: labels("c", 1), Counts: [][]int64{{10}, {9}}}, Options{ColMargins: []bool{true, false}}},
	} {
		if _, err := Protect(tc.tab, tc.opt); !errors.Is(err, ErrShape) {
			t.Errorf("%s: err %v, want ErrShape", name, err)
		}
	}
}

// TestWriteCSVGolden pins the published form of a small table whose cells
// need complementary suppression.
func TestWriteCSVGolden(t *testing.T) {
	tab := Table{
		Rows: []string{"Kasur", "Lahore", "Sialkot"}, Cols: []string{"2021", "2022", "2023"},
		Counts: [][]int64{{2, 30, 41}, {50, 61, 72}, {9, 12, 3}},
	}
	p, err := Protect(tab, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := p.WriteCSV(&buf, "district"); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "protected.csv")
	if os.Getenv("UPDATE_GOLDEN") != "" {
		if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Fatalf("got\n%s\nwant\n%s", buf.Bytes(), want)
	}
}

// TestProtectHierarchy checks a table of districts (grouped in provinces)
// by a, published with the provinces' table by b, of the same records:
// with the provinces' totals equal to the sums of their districts', the
// equations of both tables determine no suppressed value. (Without
// RowGroups this fails within a few dozen cases.)
func TestProtectHierarchy(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		P := rapid.IntRange(2, 4).Draw(t, "provinces")
		var groups []int
		for p := 0; p < P; p++ {
			n := rapid.IntRange(1, 3).Draw(t, fmt.Sprintf("districts%d", p))
			for range n {
				groups = append(groups, p)
			}
		}
		D := len(groups)
		A := rapid.IntRange(2, 4).Draw(t, "a")
		B := rapid.IntRange(2, 4).Draw(t, "b")
		td := Table{Rows: labels("d", D), Cols: labels("a", A), Counts: make([][]int64, D)}
		tp := Table{Rows: labels("p", P), Cols: labels("b", B), Counts: make([][]int64, P)}
		for p := range tp.Counts {
			tp.Counts[p] = make([]int64, B)
		}
		for d := 0; d < D; d++ {
			td.Counts[d] = make([]int64, A)
			for a := 0; a < A; a++ {
				for b := 0; b < B; b++ {
					v := count().Draw(t, fmt.Sprintf("n%d.%d.%d", d, a, b))
					td.Counts[d][a] += v
					tp.Counts[groups[d]][b] += v
				}
			}
		}
		pd, err := Protect(td, Options{RowGroups: groups})
		if err != nil {
			t.Fatal(err)
		}
		pp, err := Protect(tp, Options{})
		if err != nil {
			t.Fatal(err)
		}
		checkPublished(t, td, pd)
		checkPublished(t, tp, pp)
		s := newSystem()
		s.addTable("d", "D", "A", pd)
		s.addTable("p", "P", "B", pp)
		for p := 0; p < P; p++ {
			ts := []term{{fmt.Sprintf("margin/P/%s", pp.Rows[p]), pp.RowTotals[p], -1}}
			for d, g := range groups {
				if g == p {
					ts = append(ts, term{fmt.Sprintf("margin/D/%s", pd.Rows[d]), pd.RowTotals[d], 1})
				}
			}
			s.add(ts...)
		}
		if d := s.determined(); len(d) > 0 {
			t.Fatalf("recomputable suppressed values %v from\n%+v\n%+v", d, pd, pp)
		}
	})
}
