package registry_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nigehban/nigehban/internal/registry"
	"github.com/nigehban/nigehban/internal/store"
	"github.com/nigehban/nigehban/internal/store/storetest"
)

// genRecord is one generated incident, as codes.
type genRecord struct {
	year, month, district, category, sex, age, rel, place, area, police, outcome int
}

// label returns the label the published tables give a record's value of
// a dimension.
func (g genRecord) label(dim string) string {
	title := func(v *registry.Vocab, c int) string { return v.Title(c) }
	switch dim {
	case "year":
		return strconv.Itoa(g.year)
	case "month":
		return time.Month(g.month).String()
	case "district":
		return registry.DistrictName(g.district)
	case "province":
		d, _ := registry.LookupDistrict(strconv.Itoa(g.district))
		return registry.Provinces.Title(d.Province)
	case "category":
		return title(registry.Categories, g.category)
	case "sex":
		return title(registry.Sexes, g.sex)
	case "age_band":
		return title(registry.AgeBands, g.age)
	case "relationship":
		return title(registry.Relationships, g.rel)
	case "place":
		return title(registry.Places, g.place)
	case "area":
		return title(registry.Areas, g.area)
	case "police_status":
		return title(registry.PoliceStatuses, g.police)
	case "outcome":
		return title(registry.Outcomes, g.outcome)
	}
	panic(dim)
}

// generate writes n random incidents as an NGO's CSV sheet: skewed
// categories and districts (so that small cells occur), some unknowns.
func generate(n int, seed uint64) ([]byte, []genRecord) {
	r := rand.New(rand.NewPCG(seed, 1))
	ds := registry.Districts()
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	w.Write([]string{"reported", "category", "sex", "age_band", "relationship", "place", "district", "area", "police_status", "outcome", "acquittal_reason", "extra.newspaper"})
	name := func(v *registry.Vocab, c int) string {
		if c == 0 {
			return ""
		}
		return v.Terms[c-1].Name
	}
	pick := func(v *registry.Vocab) int {
		// Code 0 (unknown) sometimes; otherwise skewed to the first terms.
		if r.IntN(20) == 0 {
			return 0
		}
		k := len(v.Terms)
		return 1 + min(k-1, int(r.ExpFloat64()*float64(k)/3))
	}
	recs := make([]genRecord, n)
	for i := range recs {
		g := genRecord{year: 2019 + r.IntN(5), month: 1 + r.IntN(12)}
		g.district = ds[min(len(ds)-1, int(r.ExpFloat64()*25))].Code
		g.category, g.sex, g.age = pick(registry.Categories), pick(registry.Sexes), pick(registry.AgeBands)
		g.rel, g.place, g.area = pick(registry.Relationships), pick(registry.Places), pick(registry.Areas)
		g.police, g.outcome = pick(registry.PoliceStatuses), pick(registry.Outcomes)
		reason := ""
		if g.outcome == 2 {
			reason = "witness turned hostile"
		}
		date := time.Date(g.year, time.Month(g.month), 1+r.IntN(28), 0, 0, 0, 0, time.UTC).Format(time.DateOnly)
		// Age bands as sheets write them ("0-5", …; "Unknown" for none).
		w.Write([]string{date, name(registry.Categories, g.category), name(registry.Sexes, g.sex), registry.AgeBands.Title(g.age),
			name(registry.Relationships, g.rel), name(registry.Places, g.place), registry.DistrictName(g.district),
			name(registry.Areas, g.area), name(registry.PoliceStatuses, g.police), name(registry.Outcomes, g.outcome), reason,
			fmt.Sprintf("paper %d", i%7)})
		recs[i] = g
	}
	w.Flush()
	return buf.Bytes(), recs
}

// TestImportYearlyTables imports a generated monitoring sheet (100,000
// incidents; 10,000 with -short) and checks every yearly table against
// counts computed directly from the generated records: each published
// cell and total equals the direct count, and each count below the
// threshold is suppressed.
func TestImportYearlyTables(t *testing.T) {
	n := 100_000
	if testing.Short() {
		n = 10_000
	}
	sheet, recs := generate(n, 18)
	storetest.ForEachStore(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		svc := registry.NewService(st, testKeys(t))
		w := grant(t, svc, registry.Access{Principal: "user:analyst", Scope: registry.ScopeOrg, Org: "sahil", Level: registry.LevelDistrict, Write: true})
		start := time.Now()
		res, err := svc.ImportCSV(ctx, w, bytes.NewReader(sheet))
		if err != nil {
			t.Fatalf("import: %v (%+v)", err, res.Errors)
		}
		if res.Imported != n || res.Rows != n {
			t.Fatalf("imported %+v, want %d", res, n)
		}
		t.Logf("imported %d incidents in %v", n, time.Since(start))
		for year := 2019; year <= 2023; year++ {
			pubs, err := svc.Yearly(ctx, w, year, 0)
			if err != nil {
				t.Fatal(err)
			}
			if len(pubs) != 10 {
				t.Fatalf("%d yearly tables, want 10", len(pubs))
			}
			for _, p := range pubs {
				checkAgainst(t, p, recs, year)
			}
		}
	})
}

func checkAgainst(t *testing.T, p *registry.Publication, recs []genRecord, year int) {
	t.Helper()
	direct := map[[2]string]int64{}
	rowTot, colTot := map[string]int64{}, map[string]int64{}
	var total int64
	for _, g := range recs {
		if g.year != year {
			continue
		}
		r, c := g.label(p.Query.Rows), g.label(p.Query.Cols)
		direct[[2]string{r, c}]++
		rowTot[r]++
		colTot[c]++
		total++
	}
	th := p.Table.Threshold
	check := func(what string, published int64, suppressed bool, want int64) {
		if suppressed {
			return
		}
		if published != want {
			t.Fatalf("%d %s×%s %s: published %d, direct count %d", year, p.Query.Rows, p.Query.Cols, what, published, want)
		}
		if want > 0 && want < th {
			t.Fatalf("%d %s×%s %s: %d below threshold published", year, p.Query.Rows, p.Query.Cols, what, want)
		}
	}
	var cells int64
	for i, r := range p.Table.Rows {
		for j, c := range p.Table.Cols {
			cell := p.Table.Cells[i][j]
			check(r+"/"+c, cell.Count, cell.Suppressed, direct[[2]string{r, c}])
			cells += direct[[2]string{r, c}]
		}
		check(r+" total", p.Table.RowTotals[i].Count, p.Table.RowTotals[i].Suppressed, rowTot[r])
	}
	for j, c := range p.Table.Cols {
		check(c+" total", p.Table.ColTotals[j].Count, p.Table.ColTotals[j].Suppressed, colTot[c])
	}
	check("total", p.Table.Total.Count, p.Table.Total.Suppressed, total)
	if cells != total {
		t.Fatalf("%d %s×%s: labels cover %d of %d incidents", year, p.Query.Rows, p.Query.Cols, cells, total)
	}
}

// TestImportRowErrors: a sheet with bad rows imports nothing and reports
// each bad row with its line and column.
func TestImportRowErrors(t *testing.T) {
	sheet := strings.Join([]string{
		"reported,category,sex,district,outcome,acquittal_reason,extra.paper",
		"2021-01-05,rape,girl,Kasur,,,Dawn",
		"2021-13-05,rape,girl,Kasur,,,Dawn",
		"2021-01-05,theft,girl,Kasur,,,Dawn",
		"2021-01-05,rape,girl,Atlantis,,,Dawn",
		"2021-01-05,rape,girl,Lahore,acquittal,,Dawn",
		"2021-01-05,rape,girl",
		"2021-01-05,Abuse imagery,Boy,Karachi East,conviction,,Jang",
		"",
	}, "\n")
	storetest.ForEachStore(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		svc := registry.NewService(st, testKeys(t))
		punjab := grant(t, svc, registry.Access{Principal: "user:p", Scope: registry.ScopeOrg, Org: "o", Level: registry.LevelDistrict, Province: 1, Write: true})
		res, err := svc.ImportCSV(ctx, punjab, strings.NewReader(sheet))
		if !errors.Is(err, registry.ErrBadRows) {
			t.Fatalf("err %v, want ErrBadRows", err)
		}
		type lc struct {
			Line   int
			Column string
		}
		var got []lc
		for _, e := range res.Errors {
			got = append(got, lc{e.Line, e.Column})
		}
		want := []lc{{3, "reported"}, {4, "category"}, {5, "district"}, {6, ""}, {7, ""}, {8, "district"}}
		if !reflect.DeepEqual(got, want) || res.Imported != 0 || res.Rows != 7 || res.Bad != 6 {
			t.Fatalf("result %+v\nerrors %v\nwant %v", res, got, want)
		}
		if xs, err := svc.Incidents(ctx, punjab, 0, 0, 0, 10); err != nil || len(xs) != 0 {
			t.Fatalf("a bad sheet imported %d incidents (%v)", len(xs), err)
		}
		if _, err := svc.ImportCSV(ctx, punjab, strings.NewReader("when,category\n2021-01-01,rape\n")); !errors.Is(err, registry.ErrInvalid) {
			t.Fatalf("bad header: %v", err)
		}
		good := strings.Join(strings.Split(sheet, "\n")[:2], "\n") + "\n"
		if res, err := svc.ImportCSV(ctx, punjab, strings.NewReader(good)); err != nil || res.Imported != 1 {
			t.Fatalf("good sheet: %+v %v", res, err)
		}
		// The export reads back as the same incident.
		var out bytes.Buffer
		if err := svc.ExportCSV(ctx, punjab, 2021, []string{"paper"}, &out); err != nil {
			t.Fatal(err)
		}
		in, _, bad, err := registry.ParseCSV(&out)
		if err != nil || len(bad) != 0 || len(in) != 1 {
			t.Fatalf("export %q: %v %v", out.String(), bad, err)
		}
		if x := in[0]; x.Category != 4 || x.Sex != 1 || registry.DistrictName(x.District) != "Kasur" || x.Extra["paper"] != "Dawn" || x.Reported.String() != "2021-01-05" {
			t.Fatalf("exported incident %+v", x)
		}
	})
}
