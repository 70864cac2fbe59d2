package console

import (
	"testing"
	"time"

	"github.com/nigehban/nigehban/internal/history"
)

func TestBuildChart(t *testing.T) {
	now := time.Date(2026, 12, 1, 15, 0, 0, 0, time.UTC)
	day := func(back int) time.Time { return time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, -back) }
	counts := []history.DayCount{
		{Day: day(40), Bank: "old", Hits: 1000}, // before the window: ignored
		{Day: day(2), Bank: "a", Hits: 30}, {Day: day(2), Bank: "b", Hits: 10},
		{Day: day(0), Bank: "b", Hits: 50},
	}
	ch := buildChart(counts, now)
	if ch.Total != 90 || ch.Max != 50 {
		t.Fatalf("total %d, max %d; want 90, 50", ch.Total, ch.Max)
	}
	if len(ch.Legend) != 2 || ch.Legend[0].Bank != "b" || ch.Legend[0].Hits != 60 || ch.Legend[1].Bank != "a" {
		t.Fatalf("legend %+v: want b (60) before a (30)", ch.Legend)
	}
	if len(ch.Bars) != 3 {
		t.Fatalf("%d bars, want 3", len(ch.Bars))
	}
	// Stacked on day -2: the two bars touch, and heights follow the counts.
	var a, b chartBar
	for _, bar := range ch.Bars[:2] {
		if bar.Fill == ch.Legend[1].Fill {
			a = bar
		} else {
			b = bar
		}
	}
	if a.X != b.X || (a.Y+a.H != b.Y && b.Y+b.H != a.Y) {
		t.Fatalf("day -2 bars not stacked: %+v %+v", a, b)
	}
	if a.H != 3*b.H && a.H != 3*b.H+1 && a.H != 3*b.H-1 {
		t.Fatalf("heights %d and %d do not follow 30:10", a.H, b.H)
	}
	last := ch.Bars[2]
	if last.X <= a.X || last.Y+last.H != ch.Height-24 {
		t.Fatalf("today's bar %+v: want right of day -2, on the axis", last)
	}
	if got := ch.Ticks[2].Label; got != "50" {
		t.Fatalf("top tick %q, want 50", got)
	}
	for _, n := range []struct{ in, want int64 }{{0, 2}, {3, 5}, {7, 10}, {11, 20}, {50, 50}, {51, 100}, {999, 1000}} {
		if got := niceCeil(n.in); got != n.want {
			t.Errorf("niceCeil(%d) = %d, want %d", n.in, got, n.want)
		}
	}
}
