package scan

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/bank"
	"github.com/nigehban/nigehban/internal/fingerprint"
	"github.com/nigehban/nigehban/internal/pdq"
	"github.com/nigehban/nigehban/internal/store"
	"github.com/nigehban/nigehban/internal/store/storetest"
	"github.com/nigehban/nigehban/internal/variant"
)

func TestLoadKnown(t *testing.T) {
	ctx := context.Background()
	a, b, c := []byte("alpha\n"), []byte("beta\n"), []byte("gamma\n")
	dir := t.TempDir()
	for _, tc := range []struct {
		name, text, format string
		known, unknown     [][]byte
		errLike            string
	}{
		{"plain.txt", "# comment\n" + md5hex(a) + "\n\n" + strings.ToUpper(sha1hex(b)) + "  b.txt\n" + sha256hex(c) + ",c\n", "plain",
			[][]byte{a, b, c}, nil, ""},
		{"md5sum.txt", md5hex(a) + "  a.txt\n" + md5hex(b) + " *b.bin\n", "plain", [][]byte{a, b}, [][]byte{c}, ""},
		{"NSRLFile.txt", "\ufeff\"SHA-1\",\"MD5\",\"CRC32\",\"FileName\",\"FileSize\",\"ProductCode\",\"OpSystemCode\",\"SpecialCode\"\r\n" +
			"\"" + strings.ToUpper(sha1hex(a)) + "\",\"" + strings.ToUpper(md5hex(c)) + "\",\"AB12CD34\",\"a, with comma.txt\",6,1,\"362\",\"\"\r\n",
			"nsrl", [][]byte{a, c}, [][]byte{b}, ""},
		{"hashdeep.txt", "%%%% HASHDEEP-1.0\n%%%% size,md5,sha256,filename\n## Invoked from: /home\n## $ hashdeep -r x\n##\n" +
			"5," + md5hex(b) + "," + sha256hex(b) + ",/x/b, a name with commas\n", "hashdeep", [][]byte{b}, [][]byte{a, c}, ""},
		{"bad-plain.txt", md5hex(a) + "\nnot-a-hash\n", "", nil, nil, "line 2"},
		{"bad-hex.txt", strings.Repeat("z", 32) + "\n", "", nil, nil, "not hex"},
		{"bad-nsrl.txt", "\"SHA-1\",\"MD5\"\n\"123\",\"" + md5hex(a) + "\"\n", "", nil, nil, "line 2"},
		{"bad-hashdeep.txt", "%%%% HASHDEEP-1.0\nsize,md5\n", "", nil, nil, "line 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, tc.name)
			writeFile(t, p, []byte(tc.text))
			k, err := LoadKnown(ctx, []string{p})
			if tc.errLike != "" {
				if err == nil || !errors.Is(err, ErrKnownList) || !strings.Contains(err.Error(), tc.errLike) || !strings.Contains(err.Error(), tc.name) {
					t.Errorf("error %v, want ErrKnownList naming the file and %q", err, tc.errLike)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range tc.known {
				if !k.Contains(md5hex(d), sha1hex(d), sha256hex(d)) {
					t.Errorf("%q not known", d)
				}
			}
			for _, d := range tc.unknown {
				if k.Contains(md5hex(d), sha1hex(d), sha256hex(d)) {
					t.Errorf("%q known", d)
				}
			}
			if l := k.Lists(); len(l) != 1 || l[0].Format != tc.format || l[0].SHA256 != sha256hex([]byte(tc.text)) || l[0].Size != int64(len(tc.text)) {
				t.Errorf("list info %+v", l)
			}
		})
	}
	var nilSet *KnownSet
	if nilSet.Contains(md5hex(a), "", "") || nilSet.Lists() != nil {
		t.Error("a nil KnownSet knows something")
	}
}

func TestLoadFileBanks(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	h := "d8f8f0cee0f4a84f0637022a078f67f0b36e2ed596621e1d33e6339c4e9c9b22"
	plain := filepath.Join(dir, "pdq.txt")
	writeFile(t, plain, []byte(h+"\n"))
	if _, err := LoadFileBanks(ctx, []string{plain}, FileBankOptions{}); err == nil || !strings.Contains(err.Error(), "sha256 or pdq") {
		t.Errorf("64-digit plain list without a type: %v", err)
	}
	fb, err := LoadFileBanks(ctx, []string{plain}, FileBankOptions{Type: "pdq", Threshold: 10})
	if err != nil {
		t.Fatal(err)
	}
	q := pdq.MustParseHex(h)
	for i := range 12 {
		q[i%4] ^= 1 << (i * 5)
	}
	if ms, _ := fb.MatchPDQ(ctx, orig(q)); len(ms) != 0 {
		t.Errorf("distance 12 matched at threshold 10: %+v", ms)
	}
	if ms, _ := fb.MatchPDQ(ctx, orig(pdq.MustParseHex(h))); len(ms) != 1 || ms[0].Bank != "pdq.txt" || ms[0].Value != h {
		t.Errorf("exact PDQ: %+v", ms)
	}
	// 0 means 0: identical hashes only (it once meant the default, 31).
	exact, err := LoadFileBanks(ctx, []string{plain}, FileBankOptions{Type: "pdq", Threshold: 0})
	if err != nil {
		t.Fatal(err)
	}
	near := pdq.MustParseHex(h)
	near[0] ^= 1
	if ms, _ := exact.MatchPDQ(ctx, orig(near)); len(ms) != 0 {
		t.Errorf("distance 1 matched at threshold 0: %+v", ms)
	}
	if ms, _ := exact.MatchPDQ(ctx, orig(pdq.MustParseHex(h))); len(ms) != 1 {
		t.Errorf("identical hash at threshold 0: %+v", ms)
	}
	bad := filepath.Join(dir, "bad.csv")
	writeFile(t, bad, []byte("type,value\npdq,"+h+"\nmd5,xyz\n"))
	if _, err := LoadFileBanks(ctx, []string{bad}, FileBankOptions{}); err == nil || !strings.Contains(err.Error(), "line 3") {
		t.Errorf("bad line: %v", err)
	}
	if _, err := LoadFileBanks(ctx, []string{filepath.Join(dir, "missing.csv")}, FileBankOptions{}); err == nil {
		t.Error("missing bank file accepted")
	}
}

// TestStoreBanks scans against stored banks on SQLite and PostgreSQL: PDQ
// and digest matches carry the bank, category and signal ID, custody the
// change-log position.
func TestStoreBanks(t *testing.T) {
	for name, dsn := range map[string]func(t *testing.T) string{
		"sqlite":   func(t *testing.T) string { return storetest.SQLitePath(t) },
		"postgres": func(t *testing.T) string { return storetest.PostgresURL(t) },
	} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			st, err := store.Open(ctx, dsn(t))
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			svc := bank.NewService(st)
			bridge := readFile(t, imagePath("bridge-mods/aaa-orig.jpg"))
			rec := fingerprint.Reader(ctx, "x", bytes.NewReader(bridge), fingerprint.Options{})
			for _, b := range []string{"hotline", "other"} {
				if _, err := svc.CreateBank(ctx, bank.NewBank(b), audit.Actor{Name: "test"}); err != nil {
					t.Fatal(err)
				}
			}
			add := func(b string, s bank.Signal) {
				t.Helper()
				s.Quality = -1
				if _, _, err := svc.AddSignal(ctx, b, s, audit.Actor{Name: "test"}); err != nil {
					t.Fatal(err)
				}
			}
			add("hotline", bank.Signal{Type: bank.PDQ, Value: rec.PDQ.String(), Category: "A1", Note: "bridge"})
			add("hotline", bank.Signal{Type: bank.SHA256, Value: sha256hex([]byte("exact\n")), Category: "B1"})
			add("other", bank.Signal{Type: bank.MD5, Value: md5hex([]byte("only in other\n"))})

			root := t.TempDir()
			writeFile(t, filepath.Join(root, "edited.jpg"), encodeJPEG(t, crop(decode(t, bridge), 0.01), 40))
			writeFile(t, filepath.Join(root, "exact.txt"), []byte("exact\n"))
			writeFile(t, filepath.Join(root, "other.txt"), []byte("only in other\n"))
			sb, err := LoadStoreBanks(ctx, st, []string{"hotline"}, StoreBankOptions{DSN: "test-db", Threshold: -1})
			if err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(t.TempDir(), "out")
			if _, err := Run(ctx, Options{Case: "S", Examiner: "E", Out: out, Sources: []string{root}, Matcher: sb}); err != nil {
				t.Fatal(err)
			}
			got := readEntries(t, out)
			if m := got["edited.jpg"].Matches; len(m) != 1 || m[0].Bank != "hotline" || m[0].Category != "A1" || m[0].SignalType != "pdq" ||
				m[0].SignalID == 0 || m[0].Distance == 0 || m[0].Label != "bridge" {
				t.Errorf("PDQ match: %+v", m)
			}
			if m := got["exact.txt"].Matches; len(m) != 1 || m[0].SignalType != "sha256" || m[0].Category != "B1" || m[0].Distance != 0 {
				t.Errorf("sha256 match: %+v", m)
			}
			if m := got["other.txt"].Matches; len(m) != 0 {
				t.Errorf("matched a bank that was not asked for: %+v", m)
			}
			c, err := ReadCustody(out)
			if err != nil {
				t.Fatal(err)
			}
			seq, _ := st.LastSeq(ctx)
			if b := c.Runs[0].Banks; len(b) != 1 || b[0].Name != "hotline" || b[0].Kind != "store" || b[0].ChangeSeq != seq ||
				b[0].Store != "test-db" || b[0].Signals["pdq"] != 1 {
				t.Errorf("custody banks %+v (last seq %d)", b, seq)
			}
			// A narrower threshold than the bank's drops the near-duplicate.
			narrow, err := LoadStoreBanks(ctx, st, nil, StoreBankOptions{Threshold: 0})
			if err != nil {
				t.Fatal(err)
			}
			if ms, _ := narrow.MatchPDQ(ctx, orig(*got["edited.jpg"].PDQ)); len(ms) != 0 {
				t.Errorf("threshold 0 matched %+v", ms)
			}
			if ms, _ := narrow.MatchDigests(ctx, md5hex([]byte("only in other\n")), "", ""); len(ms) != 1 || ms[0].Bank != "other" {
				t.Errorf("all banks: %+v", ms)
			}
		})
	}
}

func FuzzLoadKnown(f *testing.F) {
	f.Add([]byte("d41d8cd98f00b204e9800998ecf8427e  empty\n# c\n"))
	f.Add([]byte("\"SHA-1\",\"MD5\"\n\"DA39A3EE5E6B4B0D3255BFEF95601890AFD80709\",\"D41D8CD98F00B204E9800998ECF8427E\"\n"))
	f.Add([]byte("%%%% HASHDEEP-1.0\n%%%% size,md5,filename\n0,d41d8cd98f00b204e9800998ecf8427e,/e\n"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(dir, "list")
		writeFile(t, p, data)
		k, err := LoadKnown(context.Background(), []string{p})
		if err != nil {
			if !errors.Is(err, ErrKnownList) {
				t.Fatalf("error not wrapping ErrKnownList: %v", err)
			}
			return
		}
		if l := k.Lists(); len(l) != 1 || l[0].SHA256 != sha256hex(data) {
			t.Fatalf("list info %+v", l)
		}
	})
}

// orig is h as the only variant of a query: the original.
func orig(h pdq.Hash) []variant.Hash {
	return []variant.Hash{{Name: variant.Original, PDQ: h, Quality: 100}}
}
