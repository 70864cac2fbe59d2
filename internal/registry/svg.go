package registry

import (
	"bytes"
	"fmt"
	"html"
)

// BarChart draws a publication's row totals as a horizontal bar chart in
// SVG, server-side (no script, no external resources): one bar per row,
// the published count at its end; a suppressed total is drawn as an empty
// outlined box marked "suppressed", never as a length.
func BarChart(p *Publication) []byte {
	t := p.Table
	const (
		labelW, barW, rowH, top = 190, 420, 18, 30
	)
	var max int64 = 1
	for _, c := range t.RowTotals {
		if !c.Suppressed && c.Count > max {
			max = c.Count
		}
	}
	h := top + rowH*len(t.Rows) + 10
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" role="img" font-family="sans-serif" font-size="12">`,
		labelW+barW+80, h, labelW+barW+80, h)
	title := fmt.Sprintf("Incidents by %s", p.Query.Rows)
	if p.Query.Year > 0 {
		title += fmt.Sprintf(", %d", p.Query.Year)
	}
	fmt.Fprintf(&b, `<title>%s</title><text x="4" y="18" font-weight="bold">%s</text>`, html.EscapeString(title), html.EscapeString(title))
	for i, name := range t.Rows {
		y := top + i*rowH
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end">%s</text>`, labelW-6, y+13, html.EscapeString(name))
		c := t.RowTotals[i]
		if c.Suppressed {
			fmt.Fprintf(&b, `<rect x="%d" y="%d" width="60" height="%d" fill="none" stroke="#888" stroke-dasharray="3 2"/><text x="%d" y="%d" fill="#555">suppressed</text>`,
				labelW, y+2, rowH-4, labelW+66, y+13)
			continue
		}
		w := int(float64(c.Count) / float64(max) * barW)
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="#2a6f97"/><text x="%d" y="%d">%d</text>`,
			labelW, y+2, w, rowH-4, labelW+w+4, y+13, c.Count)
	}
	b.WriteString(`</svg>`)
	return b.Bytes()
}
