package report_test

import (
	"context"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/history"
	"github.com/nigehban/nigehban/internal/report"
	"github.com/nigehban/nigehban/internal/report/cybertip"
	"github.com/nigehban/nigehban/internal/report/cybertip/cybertiptest"
	"github.com/nigehban/nigehban/internal/sealed"
	"github.com/nigehban/nigehban/internal/store"
	"github.com/nigehban/nigehban/internal/store/storetest"
)

const xsd = "../../../shared/testdata/ncmec/cyber_tipline.xsd"

var (
	alice = audit.Actor{Name: "alice"}
	bob   = audit.Actor{Name: "bob"}
)

func newRing(t *testing.T) *sealed.Ring {
	t.Helper()
	k := make([]byte, sealed.KeySize)
	rand.Read(k)
	r, err := sealed.NewRing([]string{"k1"}, [][]byte{k})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// benign returns the bytes of benign test images (a bridge, a chair, …).
func benign(t *testing.T, n int) [][]byte {
	t.Helper()
	dir := "../../../shared/testdata/pdq/images/misc-images"
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, e := range ents {
		if len(out) == n {
			break
		}
		if e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	if len(out) < n {
		t.Fatalf("only %d test images", len(out))
	}
	return out
}

func hexSum(b []byte) (md5hex, sha string) {
	m := md5.Sum(b)
	s := sha256.Sum256(b)
	return hex.EncodeToString(m[:]), hex.EncodeToString(s[:])
}

// contents hands the submitter files by sha256.
type contents map[string][]byte

func (c contents) Content(_ context.Context, _ int64, it report.Item) ([]byte, error) {
	if b, ok := c[it.SHA256]; ok {
		return b, nil
	}
	return nil, report.ErrNoContent
}

type env struct {
	st    store.Store
	svc   *report.Service
	srv   *cybertiptest.Server
	files contents
	hits  []history.Hit
}

func newEnv(t *testing.T, st store.Store, n int) *env {
	t.Helper()
	ctx := context.Background()
	e := &env{st: st, files: contents{}}
	e.svc = &report.Service{Store: st, Keys: newRing(t),
		ESP: report.ESP{Platform: "Example Photos", FirstName: "Trust", LastName: "Safety", Email: "safety@photos.example"}}
	e.srv = cybertiptest.New("esp", "secret")
	t.Cleanup(e.srv.Close)
	if _, err := exec.LookPath("xmllint"); err == nil {
		e.srv.XSD = xsd
	} else if os.Getenv("CI") == "true" {
		t.Fatal("xmllint is not installed")
	}
	at := time.Date(2026, 11, 3, 14, 0, 0, 0, time.UTC)
	var hits []history.Hit
	for i, b := range benign(t, n) {
		_, sha := hexSum(b)
		e.files[sha] = b
		hits = append(hits, history.Hit{At: at.Add(time.Duration(i) * time.Minute), Submitter: "key:1 (platform)",
			ContentID: "upload-" + sha[:8], Bank: "known", SignalID: int64(i + 1), Type: "sha256", Value: sha})
	}
	if err := st.RecordHits(ctx, hits); err != nil {
		t.Fatal(err)
	}
	got, err := st.ListHits(ctx, history.Query{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	for i := len(got) - 1; i >= 0; i-- {
		e.hits = append(e.hits, got[i])
	}
	return e
}

func (e *env) submitter(client bool) *report.Submitter {
	sb := &report.Submitter{Service: e.svc, Content: e.files, Backoff: func(int) time.Duration { return 0 }}
	if client {
		sb.Client = &cybertip.Client{BaseURL: e.srv.URL, Username: "esp", Password: "secret"}
	}
	return sb
}

func uploader(account string, port int) history.Uploader {
	return history.Uploader{AccountID: account, ScreenName: "sunny42", IP: "203.0.113.7", Port: port,
		At: time.Date(2026, 11, 3, 13, 59, 0, 0, time.UTC), DeviceIDs: []string{"dev-1"}, FileName: "IMG_0001.jpg"}
}

// openApproved opens a case of account with the given hits and has bob
// approve it.
func (e *env) openApproved(t *testing.T, account string, hits ...history.Hit) report.Case {
	t.Helper()
	ctx := context.Background()
	var ids []int64
	for _, h := range hits {
		ids = append(ids, h.ID)
	}
	c, err := e.svc.OpenCase(ctx, alice, report.OpenRequest{HitIDs: ids, Uploader: uploader(account, 51234),
		Subject: report.Subject{Emails: []string{"user@mail.example"}}, Note: "confirmed by review",
		Legal: report.Legal{Agency: "FIA Cyber Crime Wing", FIR: "FIR 12/2026", Sections: report.DefaultSections}})
	if err != nil {
		t.Fatal(err)
	}
	if c, err = e.svc.Approve(ctx, bob, c.ID); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCaseGathersOneAccountAndNeedsFourEyes(t *testing.T) {
	storetest.ForEachStore(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		e := newEnv(t, st, 3)
		c1, err := e.svc.OpenCase(ctx, alice, report.OpenRequest{HitIDs: []int64{e.hits[0].ID}, Uploader: uploader("acct-42", 1)})
		if err != nil {
			t.Fatal(err)
		}
		c2, err := e.svc.OpenCase(ctx, alice, report.OpenRequest{HitIDs: []int64{e.hits[1].ID, e.hits[0].ID}, Uploader: uploader("acct-42", 2)})
		if err != nil {
			t.Fatal(err)
		}
		other, err := e.svc.OpenCase(ctx, alice, report.OpenRequest{HitIDs: []int64{e.hits[2].ID}, Uploader: uploader("acct-7", 3)})
		if err != nil {
			t.Fatal(err)
		}
		if c1.ID != c2.ID || other.ID == c1.ID {
			t.Fatalf("cases %d, %d (same account) and %d (another): want one case per account", c1.ID, c2.ID, other.ID)
		}
		ct, err := e.svc.Content(c2)
		if err != nil {
			t.Fatal(err)
		}
		if len(ct.Items) != 2 || len(ct.Subject.IPEvents) != 2 || ct.Items[0].SHA256 != e.hits[0].Value {
			t.Fatalf("content: %d items, %d IP events: %+v", len(ct.Items), len(ct.Subject.IPEvents), ct)
		}
		stored, err := st.GetReportCase(ctx, c2.ID)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(stored.Sealed, "acct-42") || strings.Contains(stored.Sealed, "203.0.113.7") {
			t.Fatal("personal data stored in clear")
		}
		if _, err := e.svc.Approve(ctx, alice, c2.ID); !errors.Is(err, report.ErrSameApprover) {
			t.Fatalf("approval by the opener: %v, want ErrSameApprover", err)
		}
		if _, err := e.svc.OpenCase(ctx, alice, report.OpenRequest{HitIDs: []int64{999}, Uploader: uploader("acct-42", 1)}); !errors.Is(err, report.ErrInvalid) {
			t.Fatalf("unknown hit: %v", err)
		}
		noKeys := &report.Service{Store: st}
		if _, err := noKeys.OpenCase(ctx, alice, report.OpenRequest{HitIDs: []int64{e.hits[0].ID}, Uploader: uploader("acct-42", 1)}); !errors.Is(err, sealed.ErrNoKey) {
			t.Fatalf("without a data key: %v, want ErrNoKey", err)
		}
		// An IP event the schema does not allow is refused at approval,
		// naming the element, before anything is queued.
		bad, err := e.svc.OpenCase(ctx, alice, report.OpenRequest{HitIDs: []int64{e.hits[2].ID}, Uploader: uploader("acct-9", 3),
			Subject: report.Subject{IPEvents: []report.IPEvent{{IP: "198.51.100.1", Event: "Download"}}}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.Approve(ctx, bob, bad.ID); !errors.Is(err, cybertip.ErrInvalid) || !strings.Contains(err.Error(), "ipCaptureEvent/eventName") {
			t.Fatalf("approval of an invalid report: %v", err)
		}
		if _, err := e.svc.Approve(ctx, bob, c2.ID); err != nil {
			t.Fatal(err)
		}
		entries, err := st.CaseEntries(ctx, c2.Target())
		if err != nil {
			t.Fatal(err)
		}
		var acts []string
		for _, en := range entries {
			acts = append(acts, en.Action+"/"+en.Actor)
		}
		if got := strings.Join(acts, " "); got != "report.open/alice report.update/alice report.approve/bob" {
			t.Fatalf("custody entries: %s", got)
		}
	})
}

func TestSubmitEndToEndWithKill(t *testing.T) {
	storetest.ForEachStore(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		e := newEnv(t, st, 2)
		c := e.openApproved(t, "acct-42", e.hits...)
		// The process dies after the first file is uploaded and recorded.
		killed := errors.New("killed")
		sb := e.submitter(true)
		sb.StepHook = func(_ context.Context, _ report.Case, step string) error {
			if step == "upload" {
				return killed
			}
			return nil
		}
		if _, err := sb.RunOnce(ctx); !errors.Is(err, killed) {
			t.Fatalf("first pass: %v", err)
		}
		mid, _ := st.GetReportCase(ctx, c.ID)
		if mid.State != report.StateSubmitting || mid.Submission.ReportID == 0 || mid.Submission.Files[0].FileID == "" {
			t.Fatalf("after the kill: %+v", mid)
		}
		// The dead process's lease holds the case until it ends; then a new
		// process resumes: same report, remaining steps only.
		if n, err := e.submitter(true).RunOnce(ctx); err != nil || n != 0 || e.srv.Calls("upload") != 1 {
			t.Fatalf("a case under lease was worked: %d, %v", n, err)
		}
		e.svc.Now = func() time.Time { return time.Now().Add(10 * time.Minute) }
		n, err := e.submitter(true).RunOnce(ctx)
		if err != nil || n != 1 {
			t.Fatalf("resume: %d finished, %v", n, err)
		}
		reps := e.srv.Reports()
		if len(reps) != 1 || e.srv.Calls("submit") != 1 {
			t.Fatalf("%d reports, %d submits: want exactly one", len(reps), e.srv.Calls("submit"))
		}
		rep := reps[mid.Submission.ReportID]
		if !rep.Finished || len(rep.Files) != 2 || len(rep.FileInfo) != 2 {
			t.Fatalf("report at NCMEC: finished %v, %d files, %d described", rep.Finished, len(rep.Files), len(rep.FileInfo))
		}
		for _, b := range e.files {
			found := false
			for _, f := range rep.Files {
				found = found || string(f) == string(b)
			}
			if !found {
				t.Fatal("a file was not uploaded intact")
			}
		}
		for _, want := range []string{"<espIdentifier>acct-42</espIdentifier>", "<port>51234</port>", "<ipAddress>203.0.113.7</ipAddress>"} {
			if !strings.Contains(string(rep.XML), want) {
				t.Fatalf("report lacks %s:\n%s", want, rep.XML)
			}
		}
		done, _ := st.GetReportCase(ctx, c.ID)
		if done.State != report.StateSubmitted || done.Submission.Finished == nil {
			t.Fatalf("case after finish: %+v", done)
		}
	})
}

func TestSubmitErrors(t *testing.T) {
	storetest.ForEachStore(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		e := newEnv(t, st, 3)
		// Retryable: a 503 on upload is retried and the report completes.
		c := e.openApproved(t, "acct-1", e.hits[0])
		e.srv.Fail("upload", cybertiptest.Fault{Status: http.StatusServiceUnavailable, Times: 1})
		sb := e.submitter(true)
		if n, err := sb.RunOnce(ctx); err != nil || n != 0 {
			t.Fatalf("pass with a 503: %d, %v", n, err)
		}
		mid, _ := st.GetReportCase(ctx, c.ID)
		if mid.State != report.StateSubmitting || mid.Submission.ErrorKind != "retryable" || !strings.Contains(mid.Submission.LastError, "503") {
			t.Fatalf("after a 503: %s %+v", mid.State, mid.Submission)
		}
		if n, err := sb.RunOnce(ctx); err != nil || n != 1 {
			t.Fatalf("retry: %d, %v", n, err)
		}
		if e.srv.Calls("upload") != 2 || e.srv.Calls("submit") != 1 {
			t.Fatalf("uploads %d, submits %d", e.srv.Calls("upload"), e.srv.Calls("submit"))
		}
		// Permanent: a refused submit fails the case with the error.
		p := e.openApproved(t, "acct-2", e.hits[1])
		e.srv.Fail("submit", cybertiptest.Fault{Status: http.StatusOK, Code: 4100, Times: 1})
		if _, err := sb.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
		pf, _ := st.GetReportCase(ctx, p.ID)
		if pf.State != report.StateFailed || pf.Submission.ErrorKind != "permanent" || !strings.Contains(pf.Submission.LastError, "code 4100") {
			t.Fatalf("after a refusal: %s %+v", pf.State, pf.Submission)
		}
		if n, _ := sb.RunOnce(ctx); n != 0 || e.srv.Calls("submit") != 2 {
			t.Fatal("a failed case was sent again without a person's retry")
		}
		if _, err := e.svc.Retry(ctx, bob, p.ID, 0); err != nil {
			t.Fatal(err)
		}
		if n, err := sb.RunOnce(ctx); err != nil || n != 1 {
			t.Fatalf("after retry: %d, %v", n, err)
		}
		// Uncertain: killed after NCMEC answered the submit, before the
		// answer was recorded: no second report; a person retries with the
		// id found at NCMEC.
		u := e.openApproved(t, "acct-3", e.hits[2])
		killed := errors.New("killed")
		before := len(e.srv.Reports())
		kb := e.submitter(true)
		kb.StepHook = func(_ context.Context, _ report.Case, step string) error {
			if step == "submit.sent" {
				return killed
			}
			return nil
		}
		if _, err := kb.RunOnce(ctx); !errors.Is(err, killed) {
			t.Fatal(err)
		}
		e.svc.Now = func() time.Time { return time.Now().Add(10 * time.Minute) } // the lease ends
		if _, err := sb.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
		uf, _ := st.GetReportCase(ctx, u.ID)
		if uf.State != report.StateFailed || uf.Submission.ErrorKind != "uncertain" || len(e.srv.Reports()) != before+1 {
			t.Fatalf("after a kill in flight: %s %+v, %d reports (had %d)", uf.State, uf.Submission, len(e.srv.Reports()), before)
		}
		var atNCMEC int64
		for id, r := range e.srv.Reports() {
			if !r.Finished {
				atNCMEC = id
			}
		}
		if _, err := e.svc.Retry(ctx, bob, u.ID, atNCMEC); err != nil {
			t.Fatal(err)
		}
		if n, err := sb.RunOnce(ctx); err != nil || n != 1 {
			t.Fatalf("after retry with the report id: %d, %v", n, err)
		}
		if len(e.srv.Reports()) != before+1 || !e.srv.Reports()[atNCMEC].Finished {
			t.Fatal("the uncertain submit produced a duplicate report")
		}
		entries, _ := st.CaseEntries(ctx, p.Target())
		var acts []string
		for _, en := range entries {
			acts = append(acts, en.Action)
		}
		if got := strings.Join(acts, " "); got != "report.open report.approve report.error report.retry report.submit report.file report.finish" {
			t.Fatalf("custody of the refused case: %s", got)
		}
	})
}

func TestCyberTipCredentialsSealed(t *testing.T) {
	storetest.ForEachStore(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		e := newEnv(t, st, 1)
		cfg := report.CyberTipConfig{URL: e.srv.URL, Username: "esp", Password: "secret", ESP: e.svc.ESP}
		if err := e.svc.SaveCyberTip(ctx, alice, cfg); err != nil {
			t.Fatal(err)
		}
		raw, err := st.GetSecret(ctx, "cybertip")
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(raw, "secret") {
			t.Fatal("password stored in clear")
		}
		c := e.openApproved(t, "acct-1", e.hits[0])
		// No Client: the submitter uses the stored configuration.
		if n, err := e.submitter(false).RunOnce(ctx); err != nil || n != 1 {
			t.Fatalf("with stored credentials: %d, %v", n, err)
		}
		if got, _ := st.GetReportCase(ctx, c.ID); got.State != report.StateSubmitted {
			t.Fatalf("state %s", got.State)
		}
		other := &report.Service{Store: st, Keys: newRing(t)}
		if _, err := other.LoadCyberTip(ctx); !errors.Is(err, sealed.ErrCorrupt) && !errors.Is(err, sealed.ErrUnknownKey) {
			t.Fatalf("credentials opened with another key: %v", err)
		}
	})
}
