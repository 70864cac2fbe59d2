package registry_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/nigehban/nigehban/internal/registry"
	"github.com/nigehban/nigehban/internal/sealed"
	"github.com/nigehban/nigehban/internal/store"
	"github.com/nigehban/nigehban/internal/store/storetest"
)

func testKeys(t testing.TB) *sealed.Ring {
	t.Helper()
	r, err := sealed.NewRing([]string{"test"}, [][]byte{bytes.Repeat([]byte{7}, sealed.KeySize)})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

var admin = registry.Caller{Principal: "cli:admin"}

func district(t testing.TB, name string) int {
	t.Helper()
	d, err := registry.LookupDistrict(name)
	if err != nil {
		t.Fatal(err)
	}
	return d.Code
}

func grant(t testing.TB, svc *registry.Service, a registry.Access) registry.Caller {
	t.Helper()
	if _, err := svc.Grant(context.Background(), admin, a); err != nil {
		t.Fatal(err)
	}
	return registry.Caller{Principal: a.Principal, Remote: "192.0.2.1"}
}

func day(t testing.TB, s string) registry.Day {
	t.Helper()
	d, err := registry.ParseDay(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestDistrictsData(t *testing.T) {
	ds := registry.Districts()
	per := map[int]int{}
	for _, d := range ds {
		per[d.Province]++
	}
	// The 2017 census lists 36 districts in Punjab and 29 in Sindh.
	if per[1] < 36 || per[2] < 29 || per[5] != 1 {
		t.Fatalf("districts per province %v", per)
	}
	if d, err := registry.LookupDistrict("kasur"); err != nil || d.Province != 1 {
		t.Fatalf("Kasur: %+v %v", d, err)
	}
	if _, err := registry.LookupDistrict("Atlantis"); !errors.Is(err, registry.ErrInvalid) {
		t.Fatalf("unknown district: %v", err)
	}
}

// TestAccess: a district-level user sees only their district's cases and
// incidents and cannot get another district's table or a finer one.
func TestAccess(t *testing.T) {
	storetest.ForEachStore(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		svc := registry.NewService(st, testKeys(t))
		kasur, lahore := district(t, "Kasur"), district(t, "Lahore")
		writer := grant(t, svc, registry.Access{Principal: "user:hq", Scope: registry.ScopeAll, Org: "sahil", Level: registry.LevelDistrict, Write: true})
		kasurUser := grant(t, svc, registry.Access{Principal: "user:kasur", Scope: registry.ScopeAll, Org: "sahil", Level: registry.LevelDistrict, District: kasur})
		punjab := grant(t, svc, registry.Access{Principal: "user:punjab", Scope: registry.ScopeAll, Org: "sahil", Level: registry.LevelProvince, Province: 1})
		national := grant(t, svc, registry.Access{Principal: "user:nat", Scope: registry.ScopeAll, Org: "sahil", Level: registry.LevelNational})
		otherOrg := grant(t, svc, registry.Access{Principal: "user:other", Scope: registry.ScopeOrg, Org: "other", Level: registry.LevelDistrict})

		ck, err := svc.CreateCase(ctx, writer, registry.Case{District: kasur, Personal: &registry.Personal{Name: "child one"}})
		if err != nil {
			t.Fatal(err)
		}
		cl, err := svc.CreateCase(ctx, writer, registry.Case{District: lahore, Personal: &registry.Personal{Name: "child two"}})
		if err != nil {
			t.Fatal(err)
		}
		var in []registry.Incident
		for i := 0; i < 30; i++ {
			d := kasur
			if i%3 == 0 {
				d = lahore
			}
			in = append(in, registry.Incident{Reported: day(t, "2021-03-04"), District: d, Category: 1 + i%4, Sex: 1 + i%2})
		}
		if _, err := svc.AddIncidents(ctx, writer, in); err != nil {
			t.Fatal(err)
		}

		if k, err := svc.Case(ctx, kasurUser, ck.ID); err != nil || k.Personal == nil || k.Personal.Name != "child one" {
			t.Fatalf("own district's case: %+v %v", k, err)
		}
		if _, err := svc.Case(ctx, kasurUser, cl.ID); !errors.Is(err, registry.ErrNotFound) {
			t.Fatalf("other district's case: %v, want ErrNotFound", err)
		}
		if _, err := svc.Case(ctx, otherOrg, ck.ID); !errors.Is(err, registry.ErrNotFound) {
			t.Fatalf("other organisation's case: %v, want ErrNotFound", err)
		}
		cases, err := svc.Cases(ctx, kasurUser, 0, 100)
		if err != nil || len(cases) != 1 || cases[0].ID != ck.ID {
			t.Fatalf("cases of a Kasur user: %+v %v", cases, err)
		}
		incs, err := svc.Incidents(ctx, kasurUser, 0, 0, 0, 1000)
		if err != nil || len(incs) != 20 {
			t.Fatalf("Kasur user sees %d incidents (%v), want 20", len(incs), err)
		}
		for _, x := range incs {
			if x.District != kasur {
				t.Fatalf("Kasur user sees incident in district %d", x.District)
			}
			if _, err := svc.Incident(ctx, kasurUser, x.ID); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := svc.Incident(ctx, kasurUser, incs[0].ID-1); err == nil {
			// ids are consecutive: the one before the first Kasur incident is in Lahore.
			t.Fatal("Kasur user read a Lahore incident")
		}

		// Statistics.
		p, err := svc.Table(ctx, kasurUser, registry.TableRequest{Rows: "district", Cols: "category"})
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Table.Rows) != 1 || p.Table.Rows[0] != "Kasur" || p.Table.Total.Count != 20 {
			t.Fatalf("Kasur user's district table: rows %v total %+v", p.Table.Rows, p.Table.Total)
		}
		for _, tc := range []struct {
			who  registry.Caller
			req  registry.TableRequest
			want error
		}{
			{kasurUser, registry.TableRequest{Rows: "category", Cols: "sex", District: "Lahore"}, registry.ErrForbidden},
			{kasurUser, registry.TableRequest{Rows: "category", Cols: "sex", Province: "Sindh"}, registry.ErrForbidden},
			{kasurUser, registry.TableRequest{Rows: "category", Cols: "sex", Threshold: 2}, registry.ErrTooFine},
			{punjab, registry.TableRequest{Rows: "district", Cols: "sex"}, registry.ErrTooFine},
			{punjab, registry.TableRequest{Rows: "category", Cols: "sex", District: "Kasur"}, registry.ErrTooFine},
			{national, registry.TableRequest{Rows: "province", Cols: "sex"}, registry.ErrTooFine},
			{national, registry.TableRequest{Rows: "sex", Cols: "sex"}, registry.ErrInvalid},
			{national, registry.TableRequest{Rows: "name", Cols: "sex"}, registry.ErrInvalid},
			{registry.Caller{Principal: "user:nobody"}, registry.TableRequest{Rows: "category", Cols: "sex"}, registry.ErrForbidden},
		} {
			if _, err := svc.Table(ctx, tc.who, tc.req); !errors.Is(err, tc.want) {
				t.Errorf("%s %+v: %v, want %v", tc.who.Principal, tc.req, err, tc.want)
			}
		}
		if p, err := svc.Table(ctx, punjab, registry.TableRequest{Rows: "province", Cols: "category"}); err != nil || len(p.Table.Rows) != 1 {
			t.Fatalf("province table for Punjab: %+v %v", p, err)
		}
		if p, err := svc.Table(ctx, national, registry.TableRequest{Rows: "category", Cols: "sex"}); err != nil || p.Table.Total.Count != 30 {
			t.Fatalf("national table: %+v %v", p, err)
		}
		// A read-only grant cannot write.
		if _, err := svc.CreateCase(ctx, kasurUser, registry.Case{District: kasur}); !errors.Is(err, registry.ErrForbidden) {
			t.Fatalf("read-only grant created a case: %v", err)
		}

		// Every view is in the transparency log.
		entries, err := st.ListAudit(ctx, 0, 10000)
		if err != nil {
			t.Fatal(err)
		}
		views, publishes := 0, 0
		for _, e := range entries {
			switch e.Action {
			case "registry.case.view":
				if e.Actor == "user:kasur" && e.Target == fmt.Sprintf("case:%d", ck.ID) {
					views++
				}
			case "registry.publish":
				publishes++
			}
			if strings.Contains(string(e.Detail), "child one") {
				t.Fatalf("personal data in the log: %s", e.Detail)
			}
		}
		if views != 1 || publishes != 3 {
			t.Fatalf("logged %d views of the case by user:kasur, %d publications; want 1 and 3", views, publishes)
		}
	})
}

// TestPersonalSealed: personal fields are stored sealed, refused without a
// key.
func TestPersonalSealed(t *testing.T) {
	storetest.ForEachStore(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		svc := registry.NewService(st, testKeys(t))
		w := grant(t, svc, registry.Access{Principal: "user:w", Scope: registry.ScopeOrg, Org: "o", Level: registry.LevelDistrict, Write: true})
		k, err := svc.CreateCase(ctx, w, registry.Case{Personal: &registry.Personal{Name: "Secret Name", Contact: "0300-0000000"}})
		if err != nil {
			t.Fatal(err)
		}
		list, err := svc.Cases(ctx, w, 0, 10)
		if err != nil || len(list) != 1 {
			t.Fatal(list, err)
		}
		if list[0].Sealed == "" || strings.Contains(list[0].Sealed, "Secret") || list[0].Personal != nil {
			t.Fatalf("stored personal fields %q", list[0].Sealed)
		}
		if got, err := svc.Case(ctx, w, k.ID); err != nil || got.Personal.Contact != "0300-0000000" {
			t.Fatalf("opened %+v %v", got.Personal, err)
		}
		if _, err := svc.AddIncidents(ctx, w, []registry.Incident{{Reported: day(t, "2022-01-01"), FIR: "FIR 123/22"}}); err != nil {
			t.Fatal(err)
		}
		xs, _ := svc.Incidents(ctx, w, 0, 0, 0, 10)
		if len(xs) != 1 || xs[0].SealedFIR == "" || strings.Contains(xs[0].SealedFIR, "123") || xs[0].FIR != "" {
			t.Fatalf("stored FIR %+v", xs)
		}
		if x, err := svc.Incident(ctx, w, xs[0].ID); err != nil || x.FIR != "FIR 123/22" {
			t.Fatalf("opened FIR %q %v", x.FIR, err)
		}
		n, err := svc.AddNote(ctx, w, k.ID, "met the family", "vault://doc/17")
		if err != nil {
			t.Fatal(err)
		}
		if notes, err := svc.Notes(ctx, w, k.ID); err != nil || len(notes) != 1 || notes[0].Body != "met the family" || notes[0].ID != n.ID {
			t.Fatalf("notes %+v %v", notes, err)
		}

		nokey := registry.NewService(st, nil)
		if _, err := nokey.CreateCase(ctx, w, registry.Case{Personal: &registry.Personal{Name: "x"}}); !errors.Is(err, sealed.ErrNoKey) {
			t.Fatalf("without a key: %v, want ErrNoKey", err)
		}
		if _, err := nokey.AddIncidents(ctx, w, []registry.Incident{{Reported: day(t, "2022-01-01"), FIR: "1"}}); !errors.Is(err, sealed.ErrNoKey) {
			t.Fatalf("FIR without a key: %v, want ErrNoKey", err)
		}
	})
}

// TestReferralsAndClosure walks the referral states and the four-eyes
// closure.
func TestReferralsAndClosure(t *testing.T) {
	storetest.ForEachStore(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		svc := registry.NewService(st, testKeys(t))
		a := grant(t, svc, registry.Access{Principal: "user:a", Scope: registry.ScopeOrg, Org: "ngo", Level: registry.LevelDistrict, Write: true})
		b := grant(t, svc, registry.Access{Principal: "user:b", Scope: registry.ScopeOrg, Org: "ngo", Level: registry.LevelDistrict, Write: true})
		police := grant(t, svc, registry.Access{Principal: "user:p", Scope: registry.ScopeOrg, Org: "police", Level: registry.LevelDistrict, Write: true})
		k, err := svc.CreateCase(ctx, a, registry.Case{})
		if err != nil {
			t.Fatal(err)
		}
		r, err := svc.Refer(ctx, a, k.ID, "police", "needs FIR")
		if err != nil || r.State != registry.ReferralRequested {
			t.Fatal(r, err)
		}
		if _, err := svc.Case(ctx, police, k.ID); !errors.Is(err, registry.ErrNotFound) {
			t.Fatalf("receiver sees the case before accepting: %v", err)
		}
		for _, step := range []struct {
			who  registry.Caller
			to   string
			want error
		}{
			{a, registry.ReferralAccepted, registry.ErrForbidden}, // only the receiver accepts
			{police, registry.ReferralDone, registry.ErrConflict}, // not accepted yet
			{police, registry.ReferralAccepted, nil},
			{police, "", nil}, // the receiver now sees the case
			{police, registry.ReferralRevoked, registry.ErrForbidden},
			{police, registry.ReferralDone, nil},
			{a, registry.ReferralRevoked, registry.ErrConflict},
		} {
			if step.to == "" {
				if _, err := svc.Case(ctx, police, k.ID); err != nil {
					t.Fatalf("receiver of an accepted referral: %v", err)
				}
				continue
			}
			got, err := svc.MoveReferral(ctx, step.who, r.ID, step.to)
			if !errors.Is(err, step.want) {
				t.Fatalf("%s → %s: %v, want %v", step.who.Principal, step.to, err, step.want)
			}
			if err == nil && got.State != step.to {
				t.Fatalf("state %s, want %s", got.State, step.to)
			}
		}
		if _, err := svc.Case(ctx, police, k.ID); !errors.Is(err, registry.ErrNotFound) {
			t.Fatalf("receiver sees the case after the referral is done: %v", err)
		}
		ap, err := svc.RequestClosure(ctx, a, k.ID, "child safe")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.RequestClosure(ctx, b, k.ID, "again"); !errors.Is(err, registry.ErrConflict) {
			t.Fatalf("second request: %v", err)
		}
		if _, err := svc.DecideClosure(ctx, a, ap.ID, true); !errors.Is(err, registry.ErrConflict) {
			t.Fatalf("requester approved own closure: %v", err)
		}
		if _, err := svc.DecideClosure(ctx, police, ap.ID, true); !errors.Is(err, registry.ErrNotFound) {
			t.Fatalf("another organisation decided: %v", err)
		}
		if got, err := svc.DecideClosure(ctx, b, ap.ID, true); err != nil || got.State != "approved" {
			t.Fatal(got, err)
		}
		if got, err := svc.Case(ctx, a, k.ID); err != nil || got.Status != "closed" {
			t.Fatalf("case after approval: %+v %v", got, err)
		}
	})
}

// TestUpdateIncident: recording an incident's progress moves it between
// cells of every table (kept counts and scans agree) and through the funnel.
func TestUpdateIncident(t *testing.T) {
	storetest.ForEachStore(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		svc := registry.NewService(st, testKeys(t))
		w := grant(t, svc, registry.Access{Principal: "user:w", Scope: registry.ScopeOrg, Org: "o", Level: registry.LevelDistrict, Write: true})
		kasur := district(t, "Kasur")
		var in []registry.Incident
		for i := 0; i < 12; i++ {
			in = append(in, registry.Incident{Reported: day(t, "2021-05-01"), District: kasur, Category: 4, Sex: 1})
		}
		if _, err := svc.AddIncidents(ctx, w, in); err != nil {
			t.Fatal(err)
		}
		xs, err := svc.Incidents(ctx, w, 0, 0, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range xs[:6] {
			x.Category, x.FIRDate, x.FIR = 3, day(t, "2021-05-03"), "FIR 9/21"
			if _, err := svc.UpdateIncident(ctx, w, x); err != nil {
				t.Fatal(err)
			}
		}
		bad := xs[0]
		bad.VerdictDate = day(t, "2020-01-01")
		if _, err := svc.UpdateIncident(ctx, w, bad); !errors.Is(err, registry.ErrInvalid) {
			t.Fatalf("verdict before report: %v", err)
		}
		if x, err := svc.Incident(ctx, w, xs[0].ID); err != nil || x.FIR != "FIR 9/21" || x.UID != xs[0].UID {
			t.Fatalf("updated incident %+v %v", x, err)
		}
		for _, req := range []registry.TableRequest{
			{Rows: "category", Cols: "sex"},                    // kept counts
			{Rows: "category", Cols: "sex", District: "Kasur"}, // scan
		} {
			p, err := svc.Table(ctx, w, req)
			if err != nil {
				t.Fatal(err)
			}
			if p.Table.Cells[2][0].Count != 6 || p.Table.Cells[3][0].Count != 6 {
				t.Fatalf("%+v: sodomy/rape girls %+v %+v, want 6 and 6", req, p.Table.Cells[2][0], p.Table.Cells[3][0])
			}
		}
		f, err := svc.Funnel(ctx, w, registry.TableRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if f.Steps[1].Reached.Count != 6 || f.Steps[1].MeanDays == nil || *f.Steps[1].MeanDays != 2 {
			t.Fatalf("funnel FIR step %+v", f.Steps[1])
		}
	})
}
