package vault_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/store"
	"github.com/nigehban/nigehban/internal/store/storetest"
	"github.com/nigehban/nigehban/internal/vault"
)

func TestPreserveOpenOnlyWithRecipientKey(t *testing.T) {
	storetest.ForEachStore(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		img, err := os.ReadFile("../../../shared/testdata/pdq/images/misc-images/small.jpg") // a benign photo
		if err != nil {
			t.Fatal(err)
		}
		legal, _ := age.GenerateX25519Identity()
		agency, _ := age.GenerateX25519Identity()
		service, _ := age.GenerateX25519Identity() // a key the service might hold: it must not open anything
		dir := t.TempDir()
		v, err := vault.New(st, dir, []string{legal.Recipient().String(), agency.Recipient().String()}, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		it, err := v.Preserve(ctx, audit.Actor{Name: "alice"}, 7, bytes.NewReader(img))
		if err != nil {
			t.Fatal(err)
		}
		enc, err := os.ReadFile(filepath.Join(dir, it.File))
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(enc, img[100:400]) || len(enc) < len(img) {
			t.Fatal("the vault file holds the content in clear")
		}
		for name, ids := range map[string][]age.Identity{"legal": {legal}, "agency": {agency}} {
			var out bytes.Buffer
			if _, err := vault.Open(ctx, st, dir, audit.Actor{Name: name}, it.ID, ids, &out); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if !bytes.Equal(out.Bytes(), img) {
				t.Fatalf("%s decrypted other bytes", name)
			}
		}
		var out bytes.Buffer
		if _, err := vault.Open(ctx, st, dir, audit.Actor{Name: "service"}, it.ID, []age.Identity{service}, &out); err == nil || out.Len() > 0 {
			t.Fatalf("the service's own key opened the item: %v", err)
		}
		var exp bytes.Buffer
		if _, err := vault.Export(ctx, st, dir, audit.Actor{Name: "alice"}, it.ID, &exp); err != nil || !bytes.Equal(exp.Bytes(), enc) {
			t.Fatalf("export: %v", err)
		}
		// Retention: nothing expires early; after it, the file is gone.
		if n, err := vault.DestroyExpired(ctx, st, dir, time.Now().Add(30*time.Minute)); err != nil || n != 0 {
			t.Fatalf("early destroy: %d, %v", n, err)
		}
		if n, err := vault.DestroyExpired(ctx, st, dir, time.Now().Add(2*time.Hour)); err != nil || n != 1 {
			t.Fatalf("destroy: %d, %v", n, err)
		}
		if _, err := os.Stat(filepath.Join(dir, it.File)); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("file still there: %v", err)
		}
		if _, err := vault.Open(ctx, st, dir, audit.Actor{Name: "legal"}, it.ID, []age.Identity{legal}, &out); !errors.Is(err, vault.ErrDestroyed) {
			t.Fatalf("open after destruction: %v", err)
		}
		entries, err := st.CaseEntries(ctx, vault.CaseTarget(7))
		if err != nil {
			t.Fatal(err)
		}
		var acts []string
		for _, e := range entries {
			acts = append(acts, e.Action+"/"+e.Actor)
		}
		want := "vault.preserve/alice vault.access/agency vault.access/legal vault.access/service vault.export/alice vault.destroy/vault-retention"
		got := strings.Join(acts, " ")
		if got != want && got != strings.Replace(want, "vault.access/agency vault.access/legal", "vault.access/legal vault.access/agency", 1) {
			t.Fatalf("custody: %s", got)
		}
	})
}

func TestNeedsRecipients(t *testing.T) {
	if _, err := vault.New(nil, t.TempDir(), nil, 0); !errors.Is(err, vault.ErrNoRecipients) {
		t.Fatal(err)
	}
	if _, err := vault.New(nil, t.TempDir(), []string{"not-a-key"}, 0); err == nil {
		t.Fatal("a bad recipient was accepted")
	}
}
