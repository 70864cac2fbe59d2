package disclosure

// grid is the bipartite graph of a table's inner cells: nodes 0..R-1 are
// the rows, R..R+C-1 the columns, and each suppressed cell is an edge.
type grid struct {
	R, C   int
	counts [][]int64
	sup    [][]bool
}

// complete adds complementary suppressions until every suppressed cell
// lies on a cycle of suppressed cells and the rows (columns) whose totals
// are suppressed are connected by suppressed cells.
func (g *grid) complete(rowSup, colSup []bool) {
	for {
		if r, c, ok := g.bridge(); ok {
			g.suppressPath(r, g.R+c, r, c)
			continue
		}
		if a, b, ok := g.split(rowSup, 0); ok {
			g.suppressPath(a, b, -1, -1)
			continue
		}
		if a, b, ok := g.split(colSup, g.R); ok {
			g.suppressPath(a, b, -1, -1)
			continue
		}
		return
	}
}

// cellOf returns the cell joining nodes u and v (one a row, one a column).
func (g *grid) cellOf(u, v int) (r, c int) {
	if u < g.R {
		return u, v - g.R
	}
	return v, u - g.R
}

func (g *grid) neighbours(u int, fn func(v int)) {
	if u < g.R {
		for c := 0; c < g.C; c++ {
			if g.sup[u][c] {
				fn(g.R + c)
			}
		}
		return
	}
	for r := 0; r < g.R; r++ {
		if g.sup[r][u-g.R] {
			fn(r)
		}
	}
}

// bridge finds a suppressed cell on no cycle of suppressed cells (a bridge
// of the graph), the first in row-major order, by Tarjan's low-link.
func (g *grid) bridge() (r, c int, ok bool) {
	n := g.R + g.C
	disc := make([]int, n)
	low := make([]int, n)
	for i := range disc {
		disc[i] = -1
	}
	time := 0
	br, bc := -1, -1
	var dfs func(u, parent int)
	dfs = func(u, parent int) {
		disc[u], low[u] = time, time
		time++
		g.neighbours(u, func(v int) {
			if v == parent {
				return
			}
			if disc[v] < 0 {
				dfs(v, u)
				low[u] = min(low[u], low[v])
				if low[v] > disc[u] {
					r, c := g.cellOf(u, v)
					if br < 0 || r < br || r == br && c < bc {
						br, bc = r, c
					}
				}
			} else {
				low[u] = min(low[u], disc[v])
			}
		})
	}
	for u := 0; u < n; u++ {
		if disc[u] < 0 {
			dfs(u, -1)
		}
	}
	return br, bc, br >= 0
}

// split finds two nodes among those marked (rows when base is 0, columns
// when base is R) that no path of suppressed cells joins.
func (g *grid) split(marked []bool, base int) (a, b int, ok bool) {
	comp := g.components()
	first := -1
	for i, m := range marked {
		if !m {
			continue
		}
		if first < 0 {
			first = base + i
			continue
		}
		if comp[base+i] != comp[first] {
			return first, base + i, true
		}
	}
	return 0, 0, false
}

func (g *grid) components() []int {
	n := g.R + g.C
	comp := make([]int, n)
	for i := range comp {
		comp[i] = -1
	}
	stack := []int{}
	for s := 0; s < n; s++ {
		if comp[s] >= 0 {
			continue
		}
		comp[s] = s
		stack = append(stack[:0], s)
		for len(stack) > 0 {
			u := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			g.neighbours(u, func(v int) {
				if comp[v] < 0 {
					comp[v] = s
					stack = append(stack, v)
				}
			})
		}
	}
	return comp
}

// suppressPath suppresses the cells of the cheapest path from node a to
// node b over all cells but (skipR, skipC): suppressed cells cost nothing,
// others their count plus one. Ties go to the lower node.
func (g *grid) suppressPath(a, b, skipR, skipC int) {
	n := g.R + g.C
	const inf = int64(1) << 62
	dist := make([]int64, n)
	prev := make([]int, n)
	done := make([]bool, n)
	for i := range dist {
		dist[i], prev[i] = inf, -1
	}
	dist[a] = 0
	for {
		u := -1
		for i := 0; i < n; i++ {
			if !done[i] && dist[i] < inf && (u < 0 || dist[i] < dist[u]) {
				u = i
			}
		}
		if u < 0 || u == b {
			break
		}
		done[u] = true
		relax := func(v, r, c int) {
			if r == skipR && c == skipC || done[v] {
				return
			}
			w := g.counts[r][c] + 1
			if g.sup[r][c] {
				w = 0
			}
			if d := dist[u] + w; d < dist[v] {
				dist[v], prev[v] = d, u
			}
		}
		if u < g.R {
			for c := 0; c < g.C; c++ {
				relax(g.R+c, u, c)
			}
		} else {
			for r := 0; r < g.R; r++ {
				relax(r, r, u-g.R)
			}
		}
	}
	if prev[b] < 0 {
		// Unreachable: without one edge, the complete bipartite graph of a
		// table of at least 2×2 cells stays connected.
		panic("disclosure: no complementary path in a table of at least 2×2 cells")
	}
	for v := b; v != a; v = prev[v] {
		r, c := g.cellOf(prev[v], v)
		g.sup[r][c] = true
	}
}
