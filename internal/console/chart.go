package console

import (
	"fmt"
	"slices"
	"time"

	"github.com/nigehban/nigehban/internal/history"
)

// The overview's chart of hits per bank per day, drawn on the server as
// SVG (no script, no inline style: colours are presentation attributes).

// chartDays is how many days the chart shows, today included.
const chartDays = 30

// chart is what the template draws.
type chart struct {
	Width, Height int
	Bars          []chartBar
	Legend        []chartKey
	Ticks         []chartTick // y axis
	Days          []chartTick // x axis labels
	Max           int64
	Total         int64
}

type chartBar struct {
	X, Y, W, H int
	Fill       string
	Title      string // the tooltip: day, bank, hits
}

type chartKey struct {
	Bank string
	Fill string
	Hits int64
}

type chartTick struct {
	X, Y  int
	Label string
}

// palette tells banks apart (colour-blind safe, after Okabe and Ito); banks
// beyond it share the last colour.
var palette = []string{"#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#f0e442", "#777777"}

// buildChart lays out counts (by day then bank) ending on the day of now.
func buildChart(counts []history.DayCount, now time.Time) chart {
	const w, h, left, bottom, top = 720, 220, 44, 24, 8
	first := now.UTC().Truncate(24*time.Hour).AddDate(0, 0, -(chartDays - 1))
	ch := chart{Width: w, Height: h}

	// Banks by total hits, most first, so the biggest gets the first colour.
	totals := map[string]int64{}
	perDay := make([]map[string]int64, chartDays)
	for _, c := range counts {
		i := int(c.Day.Sub(first) / (24 * time.Hour))
		if i < 0 || i >= chartDays {
			continue
		}
		if perDay[i] == nil {
			perDay[i] = map[string]int64{}
		}
		perDay[i][c.Bank] += c.Hits
		totals[c.Bank] += c.Hits
		ch.Total += c.Hits
	}
	var banks []string
	for b := range totals {
		banks = append(banks, b)
	}
	slices.SortFunc(banks, func(a, b string) int {
		if totals[a] != totals[b] {
			if totals[a] > totals[b] {
				return -1
			}
			return 1
		}
		if a < b {
			return -1
		}
		return 1
	})
	fill := map[string]string{}
	for i, b := range banks {
		fill[b] = palette[min(i, len(palette)-1)]
		ch.Legend = append(ch.Legend, chartKey{Bank: b, Fill: fill[b], Hits: totals[b]})
	}
	for _, m := range perDay {
		var sum int64
		for _, n := range m {
			sum += n
		}
		ch.Max = max(ch.Max, sum)
	}
	scaleMax := niceCeil(ch.Max)
	plotH := h - bottom - top
	slot := (w - left) / chartDays
	for i, m := range perDay {
		x := left + i*slot
		y := h - bottom
		for _, b := range banks {
			n := m[b]
			if n == 0 {
				continue
			}
			bh := int(int64(plotH) * n / scaleMax)
			if bh < 1 {
				bh = 1
			}
			y -= bh
			ch.Bars = append(ch.Bars, chartBar{X: x + 1, Y: y, W: slot - 2, H: bh, Fill: fill[b],
				Title: fmt.Sprintf("%s: %s, %d hits", first.AddDate(0, 0, i).Format("2 Jan"), b, n)})
		}
		if i%7 == 0 || i == chartDays-1 {
			ch.Days = append(ch.Days, chartTick{X: x + slot/2, Y: h - 6, Label: first.AddDate(0, 0, i).Format("2 Jan")})
		}
	}
	for _, f := range []int64{0, 1, 2} {
		v := scaleMax * f / 2
		ch.Ticks = append(ch.Ticks, chartTick{X: left - 4, Y: h - bottom - int(int64(plotH)*f/2) + 4, Label: fmt.Sprint(v)})
	}
	return ch
}

// niceCeil rounds n up to 1, 2 or 5 times a power of ten (at least 2, so
// the middle tick is a whole number).
func niceCeil(n int64) int64 {
	if n <= 2 {
		return 2
	}
	p := int64(1)
	for p*10 < n {
		p *= 10
	}
	for _, m := range []int64{1, 2, 5, 10} {
		if m*p >= n {
			return m * p
		}
	}
	return 10 * p
}
