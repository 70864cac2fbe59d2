package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nigehban/nigehban/internal/store/sqlite/sqlitedrv"

	"github.com/jackc/pgx/v5"
	"github.com/nigehban/nigehban/internal/action"
	"github.com/nigehban/nigehban/internal/apikey"
	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/bank"
	"github.com/nigehban/nigehban/internal/hashlist"
	"github.com/nigehban/nigehban/internal/store"
	"github.com/nigehban/nigehban/internal/store/storetest"
)

func TestDefaultDSN(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	tests := []struct {
		env, xdg, want string
	}{
		{"", "", filepath.Join(home, ".local/share/nigehban/nigehban.db")},
		{"", "/data", "/data/nigehban/nigehban.db"},
		{"", "relative/ignored", filepath.Join(home, ".local/share/nigehban/nigehban.db")},
		{"postgres://db/x", "/data", "postgres://db/x"},
		{"/srv/banks.db", "", "/srv/banks.db"},
	}
	for _, tt := range tests {
		t.Setenv("NIGEHBAN_DB", tt.env)
		t.Setenv("XDG_DATA_HOME", tt.xdg)
		got, err := store.DefaultDSN()
		if err != nil || got != tt.want {
			t.Errorf("DefaultDSN(NIGEHBAN_DB=%q, XDG_DATA_HOME=%q) = %q, %v; want %q", tt.env, tt.xdg, got, err, tt.want)
		}
	}
}

func TestRedact(t *testing.T) {
	if got := store.Redact("postgres://u:secret@h/db"); strings.Contains(got, "secret") {
		t.Errorf("Redact kept the password: %q", got)
	}
	if got := store.Redact("/path/x.db"); got != "/path/x.db" {
		t.Errorf("store.Redact(path) = %q", got)
	}
}

func TestOpenPicksEngine(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "sub", "dir", "n.db")
	st, err := store.Open(ctx, path)
	if err != nil {
		t.Fatalf("Open(sqlite path): %v", err)
	}
	if st.Engine() != "sqlite" {
		t.Errorf("engine %q, want sqlite", st.Engine())
	}
	if _, err := st.CreateBank(ctx, bank.NewBank("b"), audit.Actor{Name: "t"}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	if _, err := store.Open(ctx, "/tmp/bad?name.db"); err == nil {
		t.Error("Open accepted a path with '?'")
	}
	pg := storetest.PostgresURL(t)
	st, err = store.Open(ctx, pg)
	if err != nil {
		t.Fatalf("Open(postgres URL): %v", err)
	}
	defer st.Close()
	if st.Engine() != "postgres" {
		t.Errorf("engine %q, want postgres", st.Engine())
	}
	if err := st.Check(ctx); err != nil {
		t.Errorf("Check on a new database: %v", err)
	}
}

// refuseAudit makes every audit append of the database dsn fail (a trigger),
// and returns a function that allows them again.
func refuseAudit(t *testing.T, engine, dsn string) (allow func()) {
	t.Helper()
	ctx := context.Background()
	if engine == "sqlite" {
		raw, err := sqlitedrv.Open(strings.TrimPrefix(dsn, "sqlite:"), sqlitedrv.Options{Pragmas: []string{"busy_timeout = 30000"}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { raw.Close() })
		if _, err := raw.Exec(`CREATE TRIGGER refuse_audit BEFORE INSERT ON audit BEGIN SELECT RAISE(ABORT, 'audit refused'); END`); err != nil {
			t.Fatal(err)
		}
		return func() {
			if _, err := raw.Exec(`DROP TRIGGER refuse_audit`); err != nil {
				t.Fatal(err)
			}
		}
	}
	raw, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close(ctx) })
	if _, err := raw.Exec(ctx, `CREATE OR REPLACE FUNCTION refuse_audit() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN RAISE EXCEPTION 'audit refused'; END $$;
		CREATE TRIGGER refuse_audit BEFORE INSERT ON audit FOR EACH ROW EXECUTE FUNCTION refuse_audit()`); err != nil {
		t.Fatal(err)
	}
	return func() {
		if _, err := raw.Exec(ctx, `DROP TRIGGER refuse_audit ON audit`); err != nil {
			t.Fatal(err)
		}
	}
}

// TestAuditAtomic checks that every audited change is all or nothing with
// its audit entry: when the entry cannot be appended, the change is not
// made either (and, once appends work again, each act leaves exactly one
// entry in the same state).
func TestAuditAtomic(t *testing.T) {
	storetest.ForEachEngine(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		st, err := store.Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		svc := bank.NewService(st)
		by := audit.Actor{Name: "curator", Remote: "192.0.2.7:5555"}
		const pdq = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
		sig := bank.Signal{Type: bank.PDQ, Value: pdq, Quality: -1}
		enabled := false
		var keyID int64
		acts := []struct {
			action string
			do     func() error
		}{
			{audit.ActBankCreate, func() error { _, err := svc.CreateBank(ctx, bank.NewBank("b"), by); return err }},
			{audit.ActBankUpdate, func() error {
				_, _, err := svc.UpdateBank(ctx, "b", bank.BankUpdate{Enabled: &enabled}, by)
				return err
			}},
			{audit.ActSignalAdd, func() error { _, _, err := svc.AddSignal(ctx, "b", sig, by); return err }},
			{audit.ActBankImport, func() error {
				r, err := hashlist.NewReader(strings.NewReader("type,value\nmd5,d41d8cd98f00b204e9800998ecf8427e\n"), hashlist.CSV, hashlist.ReaderOptions{})
				if err != nil {
					t.Fatal(err)
				}
				_, err = svc.Import(ctx, "b", r, bank.ImportOptions{Actor: by, Atomic: true})
				return err
			}},
			{audit.ActSignalRemove, func() error {
				_, _, err := svc.RemoveSignal(ctx, "b", bank.SignalRef{Type: bank.PDQ, Value: pdq}, "false positive", by)
				return err
			}},
			{audit.ActBankWebhook, func() error {
				return st.SetWebhook(ctx, action.Webhook{Bank: "b", URL: "https://example.org/h", Secret: "0123456789abcdef"}, by)
			}},
			{audit.ActAPIKeyCreate, func() error {
				k, _, err := apikey.New("ops", apikey.Admin, by.Name)
				if err != nil {
					t.Fatal(err)
				}
				k, err = st.CreateAPIKey(ctx, k, by)
				keyID = k.ID
				return err
			}},
			{audit.ActAPIKeyRevoke, func() error { return st.RevokeAPIKey(ctx, keyID, by) }},
		}
		for _, a := range acts {
			before := snapshot(t, st)
			allow := refuseAudit(t, st.Engine(), dsn)
			if err := a.do(); err == nil {
				t.Fatalf("%s succeeded although its audit entry was refused", a.action)
			}
			if after := snapshot(t, st); after != before {
				t.Fatalf("%s failed to audit but changed the store:\nbefore %s\nafter  %s", a.action, before, after)
			}
			allow()
			if err := a.do(); err != nil {
				t.Fatalf("%s: %v", a.action, err)
			}
			es, err := st.ListAudit(ctx, 0, 100)
			if err != nil || len(es) == 0 {
				t.Fatalf("audit log: %v %v", es, err)
			}
			if last := es[len(es)-1]; last.Action != a.action || last.Actor != by.Name || last.Remote != by.Remote {
				t.Errorf("last entry after %s: %+v", a.action, last)
			}
		}
		if n, err := audit.VerifyStore(ctx, st); err != nil || n != len(acts) {
			t.Errorf("audit chain: %d entries (want %d), %v", n, len(acts), err)
		}
		if err := st.Check(ctx); err != nil {
			t.Error(err)
		}
	})
}

// snapshot summarises what the acts of TestAuditAtomic change.
func snapshot(t *testing.T, st store.Store) string {
	t.Helper()
	ctx := context.Background()
	banks, err := st.ListBanks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	seq, _ := st.LastSeq(ctx)
	hooks, _ := st.Webhooks(ctx)
	keys, _ := st.ListAPIKeys(ctx)
	es, _ := st.ListAudit(ctx, 0, 1000)
	var sigs []string
	for _, b := range banks {
		st.ScanSignals(ctx, bank.SignalQuery{Banks: []string{b.Name}, IncludeRemoved: true}, func(s *bank.Signal) error {
			sigs = append(sigs, fmt.Sprintf("%d:%s:%v", s.ID, s.Value, s.Active()))
			return nil
		})
	}
	b, _ := json.Marshal(map[string]any{"banks": banks, "seq": seq, "hooks": hooks, "keys": keys, "audit": len(es), "signals": sigs})
	return string(b)
}
