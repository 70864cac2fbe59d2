package console_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/nigehban/nigehban/internal/account"
	"github.com/nigehban/nigehban/internal/registry"
)

// TestRegistryPages: a district-level user's dashboard shows their
// district only, with a CSV and an SVG of the same protected table; a
// finer table is refused; a case of another district is not found; each
// view is logged.
func TestRegistryPages(t *testing.T) {
	e := newEnv(t, sqliteDSN(t))
	ctx := context.Background()
	reg := registry.NewService(e.st, nil)
	admin := registry.Caller{Principal: "test"}
	kasur, _ := registry.LookupDistrict("Kasur")
	lahore, _ := registry.LookupDistrict("Lahore")
	for _, a := range []registry.Access{
		{Principal: "user:writer", Scope: registry.ScopeOrg, Org: "sahil", Level: registry.LevelDistrict, Write: true},
		{Principal: "user:kasur", Scope: registry.ScopeOrg, Org: "sahil", Level: registry.LevelDistrict, District: kasur.Code},
		{Principal: "user:punjab", Scope: registry.ScopeOrg, Org: "sahil", Level: registry.LevelProvince, Province: 1},
	} {
		if _, err := reg.Grant(ctx, admin, a); err != nil {
			t.Fatal(err)
		}
	}
	w := registry.Caller{Principal: "user:writer"}
	var in []registry.Incident
	for i := 0; i < 60; i++ {
		d := kasur.Code
		if i%3 == 0 {
			d = lahore.Code
		}
		in = append(in, registry.Incident{Reported: registry.Day(18700 + i), District: d, Category: 1 + i%3, Sex: 1 + i%2,
			FIRDate: registry.Day(18710 + i)})
	}
	if _, err := reg.AddIncidents(ctx, w, in); err != nil {
		t.Fatal(err)
	}
	other, err := reg.CreateCase(ctx, w, registry.Case{District: lahore.Code})
	if err != nil {
		t.Fatal(err)
	}
	own, err := reg.CreateCase(ctx, w, registry.Case{District: kasur.Code})
	if err != nil {
		t.Fatal(err)
	}

	ck := e.session(t, "kasur", account.Viewer)
	body := readBody(t, e.do(t, "GET", "/ui/registry?rows=district&cols=sex", ck, nil, nil))
	if !strings.Contains(body, `id="table"`) || !strings.Contains(body, "<th>Kasur</th>") || strings.Contains(body, "Lahore") {
		t.Fatalf("Kasur dashboard:\n%s", body)
	}
	if !strings.Contains(body, `id="funnel"`) || !strings.Contains(body, `src="/ui/registry/chart.svg?`) {
		t.Fatalf("dashboard lacks funnel or chart:\n%s", body)
	}
	resp := e.do(t, "GET", "/ui/registry/table.csv?rows=district&cols=sex", ck, nil, nil)
	csv := readBody(t, resp)
	if resp.StatusCode != 200 || !strings.HasPrefix(csv, "district\\sex,Girl,Boy,Other,Total\nKasur,20,20,0,40\n") {
		t.Fatalf("csv %d %q", resp.StatusCode, csv)
	}
	resp = e.do(t, "GET", "/ui/registry/chart.svg?rows=district&cols=sex", ck, nil, nil)
	svg := readBody(t, resp)
	if resp.Header.Get("Content-Type") != "image/svg+xml" || !strings.HasPrefix(svg, "<svg") || !strings.Contains(svg, ">40</text>") {
		t.Fatalf("svg %q", svg)
	}
	resp = e.do(t, "GET", "/ui/registry?rows=category&cols=sex&district=Lahore", ck, nil, nil)
	if body := readBody(t, resp); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, `id="refused"`) {
		t.Fatalf("another district's table: %d\n%s", resp.StatusCode, body)
	}
	cp := e.session(t, "punjab", account.Viewer)
	if resp := e.do(t, "GET", "/ui/registry?rows=district&cols=sex", cp, nil, nil); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("province user's district table: %d", resp.StatusCode)
	}
	if resp := e.do(t, "GET", fmt.Sprintf("/ui/registry/cases/%d", other.ID), ck, nil, nil); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("another district's case: %d", resp.StatusCode)
	}
	if resp := e.do(t, "GET", fmt.Sprintf("/ui/registry/cases/%d", own.ID), ck, nil, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("own district's case: %d", resp.StatusCode)
	}
	list := readBody(t, e.do(t, "GET", "/ui/registry/cases", ck, nil, nil))
	if !strings.Contains(list, fmt.Sprintf(`/ui/registry/cases/%d"`, own.ID)) || strings.Contains(list, fmt.Sprintf(`/ui/registry/cases/%d"`, other.ID)) {
		t.Fatalf("case list:\n%s", list)
	}
	nobody := e.session(t, "nobody", account.Viewer)
	if body := readBody(t, e.do(t, "GET", "/ui/registry", nobody, nil, nil)); !strings.Contains(body, `id="nogrant"`) {
		t.Fatalf("no grant:\n%s", body)
	}
	entries, err := e.st.ListAudit(ctx, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var views bytes.Buffer
	for _, en := range entries {
		if en.Action == "registry.case.view" && en.Actor == "user:kasur" {
			fmt.Fprintln(&views, en.Target)
		}
	}
	if views.String() != fmt.Sprintf("case:%d\n", own.ID) {
		t.Fatalf("logged case views %q", views.String())
	}
}
