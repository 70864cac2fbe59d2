package console

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nigehban/nigehban/internal/action"
	"github.com/nigehban/nigehban/internal/bank"
	"github.com/nigehban/nigehban/internal/hashlist"
)

// Bank management pages for curators: create, settings, import with
// progress, export, and the webhook of each bank with a test delivery.

// createBank answers POST /ui/banks.
func (c *Console) createBank(w http.ResponseWriter, r *http.Request, v *visit) error {
	b := bank.NewBank(strings.TrimSpace(r.PostFormValue("name")))
	b.Description = strings.TrimSpace(r.PostFormValue("description"))
	if a := r.PostFormValue("action"); a != "" {
		b.Action = bank.Action(a)
	}
	if t := r.PostFormValue("pdq_threshold"); t != "" {
		n, err := strconv.Atoi(t)
		if err != nil {
			return &httpError{http.StatusBadRequest, "The PDQ threshold must be a whole number."}
		}
		b.PDQThreshold = n
	}
	created, err := c.banks.CreateBank(r.Context(), b, v.by())
	switch {
	case errors.Is(err, bank.ErrExists):
		return &httpError{http.StatusConflict, fmt.Sprintf("A bank named %q exists already.", b.Name)}
	case errors.Is(err, bank.ErrInvalid):
		return &httpError{http.StatusBadRequest, err.Error()}
	case err != nil:
		return err
	}
	http.Redirect(w, r, "/ui/banks/"+created.Name+"?msg=created", http.StatusSeeOther)
	return nil
}

// bankSettings answers POST /ui/banks/{name}/settings.
func (c *Console) bankSettings(w http.ResponseWriter, r *http.Request, v *visit) error {
	name := r.PathValue("name")
	var u bank.BankUpdate
	desc := strings.TrimSpace(r.PostFormValue("description"))
	u.Description = &desc
	enabled := r.PostFormValue("enabled") == "1"
	u.Enabled = &enabled
	a := bank.Action(r.PostFormValue("action"))
	u.Action = &a
	n, err := strconv.Atoi(r.PostFormValue("pdq_threshold"))
	if err != nil {
		return &httpError{http.StatusBadRequest, "The PDQ threshold must be a whole number."}
	}
	u.PDQThreshold = &n
	return c.updateBank(w, r, v, name, u, "saved")
}

// updateBank applies u to bank name and goes back to the bank's page with
// msg, or "unchanged" when u changed nothing.
func (c *Console) updateBank(w http.ResponseWriter, r *http.Request, v *visit, name string, u bank.BankUpdate, msg string) error {
	_, changed, err := c.banks.UpdateBank(r.Context(), name, u, v.by())
	switch {
	case errors.Is(err, bank.ErrNotFound):
		return errNotFound
	case errors.Is(err, bank.ErrInvalid):
		return &httpError{http.StatusBadRequest, err.Error()}
	case err != nil:
		return err
	}
	if !changed {
		msg = "unchanged"
	}
	http.Redirect(w, r, "/ui/banks/"+name+"?msg="+msg, http.StatusSeeOther)
	return nil
}

// exportBank answers GET /ui/banks/{name}/export?format=F: the bank's
// active signals as a download, streamed.
func (c *Console) exportBank(w http.ResponseWriter, r *http.Request, v *visit) error {
	name := r.PathValue("name")
	fs := r.URL.Query().Get("format")
	if fs == "" {
		fs = string(hashlist.CSV)
	}
	f, err := hashlist.ParseFormat(fs)
	if err != nil || f == hashlist.Nigehban {
		return &httpError{http.StatusBadRequest, "Choose one of the export formats offered on the bank's page."}
	}
	if _, err := c.banks.GetBank(r.Context(), name); errors.Is(err, bank.ErrNotFound) {
		return errNotFound
	} else if err != nil {
		return err
	}
	ext := map[hashlist.Format]string{hashlist.Plain: "txt", hashlist.CSV: "csv", hashlist.JSONL: "jsonl", hashlist.TE: "csv", hashlist.VICS: "json"}[f]
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s.%s"`, name, ext))
	bw := bufio.NewWriterSize(w, 64<<10)
	res, err := c.banks.Export(r.Context(), name, bw, f, bank.ExportOptions{})
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		// Headers are gone: the download ends short, and the log says why.
		c.log.Error("console: export", "bank", name, "err", err)
		return nil
	}
	c.log.Info("console: export", "bank", name, "format", f, "written", res.Written, "by", v.actor())
	return nil
}

// Imports run in the background of the replica that received the upload;
// their progress page refreshes itself until they end.

// importJob is one import started from the console.
type importJob struct {
	ID      string
	Bank    string
	By      string
	File    string
	Started time.Time

	mu     sync.Mutex
	res    bank.ImportResult
	done   bool
	err    string
	ended  time.Time
	format hashlist.Format
}

// importView is what the progress page shows of a job.
type importView struct {
	ID, Bank, By, File, Err string
	Format                  hashlist.Format
	Started, Ended          time.Time
	Done                    bool
	Result                  bank.ImportResult
}

func (j *importJob) view() importView {
	j.mu.Lock()
	defer j.mu.Unlock()
	return importView{ID: j.ID, Bank: j.Bank, By: j.By, File: j.File, Err: j.err, Format: j.format,
		Started: j.Started, Ended: j.ended, Done: j.done, Result: j.res}
}

// imports are the jobs of this process, kept an hour after they end.
type imports struct {
	mu   sync.Mutex
	jobs map[string]*importJob
}

const importKeep = time.Hour

func (im *imports) add(j *importJob) {
	im.mu.Lock()
	defer im.mu.Unlock()
	if im.jobs == nil {
		im.jobs = map[string]*importJob{}
	}
	for id, o := range im.jobs {
		o.mu.Lock()
		old := o.done && time.Since(o.ended) > importKeep
		o.mu.Unlock()
		if old {
			delete(im.jobs, id)
		}
	}
	im.jobs[j.ID] = j
}

func (im *imports) get(id string) *importJob {
	im.mu.Lock()
	defer im.mu.Unlock()
	return im.jobs[id]
}

// maxImportUpload bounds a hash list uploaded through the console.
const maxImportUpload = 1 << 30

// importBank answers POST /ui/banks/{name}/import (multipart: file, format,
// category, source, atomic): the list is spooled to a temporary file, then
// imported in the background; the answer leads to its progress page.
func (c *Console) importBank(w http.ResponseWriter, r *http.Request, v *visit) error {
	name := r.PathValue("name")
	if _, err := c.banks.GetBank(r.Context(), name); errors.Is(err, bank.ErrNotFound) {
		return errNotFound
	} else if err != nil {
		return err
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxImportUpload)
	mr, err := r.MultipartReader()
	if err != nil {
		return &httpError{http.StatusBadRequest, "Send the list with the form on the bank's page."}
	}
	fields := map[string]string{}
	var spool *os.File
	var fileName string
	defer func() {
		if spool != nil {
			spool.Close()
			os.Remove(spool.Name())
		}
	}()
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return &httpError{http.StatusBadRequest, "The upload was cut short or is too large (at most 1 GiB)."}
		}
		if p.FormName() == "file" {
			if spool != nil {
				return &httpError{http.StatusBadRequest, "Upload one file at a time."}
			}
			if spool, err = os.CreateTemp("", "nigehban-import-*"); err != nil {
				return err
			}
			fileName = p.FileName()
			if _, err := io.Copy(spool, p); err != nil {
				return &httpError{http.StatusBadRequest, "The upload was cut short or is too large (at most 1 GiB)."}
			}
			continue
		}
		b, err := io.ReadAll(io.LimitReader(p, 4096))
		if err != nil {
			return &httpError{http.StatusBadRequest, "The form was cut short."}
		}
		fields[p.FormName()] = strings.TrimSpace(string(b))
	}
	if spool == nil {
		return &httpError{http.StatusBadRequest, "Choose a file to import."}
	}
	if _, err := spool.Seek(0, io.SeekStart); err != nil {
		return err
	}
	br := bufio.NewReaderSize(spool, 64<<10)
	head, _ := br.Peek(4096)
	format := hashlist.Format(fields["format"])
	if format == "" || format == "auto" {
		format = hashlist.Detect(head, fileName)
	}
	rd, err := hashlist.NewReader(br, format, hashlist.ReaderOptions{})
	if err != nil {
		return &httpError{http.StatusBadRequest, "This list cannot be read: " + err.Error()}
	}
	var idb [8]byte
	rand.Read(idb[:])
	job := &importJob{ID: hex.EncodeToString(idb[:]), Bank: name, By: v.actor(), File: fileName, Started: time.Now(), format: format}
	c.imports.add(job)
	file := spool
	spool = nil // the job owns it now
	opts := bank.ImportOptions{Actor: v.by(), Format: format, Atomic: fields["atomic"] == "1",
		Category: fields["category"], Source: fields["source"], MaxBadLines: 100,
		Progress: func(res bank.ImportResult) {
			job.mu.Lock()
			job.res = res
			job.mu.Unlock()
		}}
	// The import outlives the request, not the process.
	ctx := context.WithoutCancel(r.Context())
	go func() {
		defer func() {
			file.Close()
			os.Remove(file.Name())
		}()
		res, err := c.banks.Import(ctx, name, rd, opts)
		job.mu.Lock()
		job.res, job.done, job.ended = res, true, time.Now()
		if err != nil {
			job.err = err.Error()
		}
		job.mu.Unlock()
		c.log.Info("console: import", "bank", name, "by", job.By, "added", res.Added, "bad", res.Bad, "err", err)
	}()
	http.Redirect(w, r, "/ui/imports/"+job.ID, http.StatusSeeOther)
	return nil
}

// importProgress answers GET /ui/imports/{id}.
func (c *Console) importProgress(w http.ResponseWriter, r *http.Request, v *visit) error {
	j := c.imports.get(r.PathValue("id"))
	if j == nil {
		return &httpError{http.StatusNotFound, "No such import on this server (imports are shown for an hour after they end, on the server that ran them)."}
	}
	jv := j.view()
	if !jv.Done {
		w.Header().Set("Refresh", "1") // the page reloads itself until the import ends
	}
	c.render(w, r, v, http.StatusOK, "import", "Import into "+jv.Bank, map[string]any{"Job": jv})
	return nil
}

// webhooks answers GET /ui/webhooks: every bank's webhook (never its
// secret), the outbox depth and the dead events with retry.
func (c *Console) webhooks(w http.ResponseWriter, r *http.Request, v *visit) error {
	return c.showWebhooks(w, r, v, http.StatusOK, nil)
}

func (c *Console) showWebhooks(w http.ResponseWriter, r *http.Request, v *visit, status int, data map[string]any) error {
	ctx := r.Context()
	hooks, err := c.st.Webhooks(ctx)
	if err != nil {
		return err
	}
	banks, err := c.banks.ListBanks(ctx)
	if err != nil {
		return err
	}
	dead, err := c.st.DeadEvents(ctx, 0, 100)
	if err != nil {
		return err
	}
	depth, err := c.st.OutboxDepth(ctx)
	if err != nil {
		return err
	}
	type row struct {
		Bank string
		Hook *action.Webhook
	}
	var rows []row
	for _, b := range banks {
		rw := row{Bank: b.Name}
		for i := range hooks {
			if hooks[i].Bank == b.Name {
				h := hooks[i]
				h.Secret = "" // never shown
				rw.Hook = &h
			}
		}
		rows = append(rows, rw)
	}
	deadRows := make([]map[string]any, 0, len(dead))
	for _, e := range dead {
		deadRows = append(deadRows, map[string]any{"ID": e.ID, "EventID": e.EventID(), "Bank": e.Bank, "URL": e.URL,
			"Attempts": e.Attempts, "LastError": e.LastError, "At": e.NextAt})
	}
	if data == nil {
		data = map[string]any{}
	}
	data["Rows"], data["Dead"], data["Depth"] = rows, deadRows, depth
	c.render(w, r, v, status, "webhooks", "Webhooks", data)
	return nil
}

// setWebhook answers POST /ui/webhooks (bank, url, secret, categories,
// types; an empty url removes the webhook).
func (c *Console) setWebhook(w http.ResponseWriter, r *http.Request, v *visit) error {
	name := r.PostFormValue("bank")
	if _, err := c.banks.GetBank(r.Context(), name); errors.Is(err, bank.ErrNotFound) {
		return errNotFound
	} else if err != nil {
		return err
	}
	hook := action.Webhook{Bank: name, URL: strings.TrimSpace(r.PostFormValue("url")), Secret: r.PostFormValue("secret"),
		Categories: splitList(r.PostFormValue("categories")), Types: splitList(r.PostFormValue("types"))}
	if hook.URL != "" {
		if err := action.CheckURL(hook.URL, c.cfg.WebhookAllowPrivate); err != nil {
			return c.showWebhooks(w, r, v, http.StatusBadRequest, map[string]any{"Error": "Webhook of " + name + ": " + err.Error()})
		}
		if len(hook.Secret) < 16 {
			return c.showWebhooks(w, r, v, http.StatusBadRequest, map[string]any{"Error": "Webhook of " + name + ": the secret must be at least 16 characters (receivers check signatures with it)."})
		}
	}
	if err := c.st.SetWebhook(r.Context(), hook, v.by()); err != nil {
		return err
	}
	http.Redirect(w, r, "/ui/webhooks?msg=saved", http.StatusSeeOther)
	return nil
}

// testWebhook answers POST /ui/banks/{name}/webhook/test: one signed test
// event now, its outcome shown on the page and audited.
func (c *Console) testWebhook(w http.ResponseWriter, r *http.Request, v *visit) error {
	name := r.PathValue("name")
	hooks, err := c.st.Webhooks(r.Context())
	if err != nil {
		return err
	}
	i := slices.IndexFunc(hooks, func(h action.Webhook) bool { return h.Bank == name })
	if i < 0 {
		return &httpError{http.StatusNotFound, "Bank " + name + " has no webhook to test."}
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	start := time.Now()
	err = action.SendTest(ctx, c.webhookClient(), hooks[i], v.actor())
	took := time.Since(start).Round(time.Millisecond)
	outcome := "delivered in " + took.String()
	if err != nil {
		outcome = "failed after " + took.String() + ": " + err.Error()
	}
	detail := map[string]any{"url": hooks[i].URL, "ok": err == nil, "outcome": outcome}
	if _, aerr := c.st.AppendAudit(r.Context(), v.by().Entry("webhook.test", name, detail)); aerr != nil {
		return aerr
	}
	status := http.StatusOK
	msg := map[string]any{"Msg": "Test event to the webhook of " + name + ": " + outcome + "."}
	if err != nil {
		status = http.StatusBadGateway
		msg = map[string]any{"Error": "Test event to the webhook of " + name + ": " + outcome + "."}
	}
	return c.showWebhooks(w, r, v, status, msg)
}

// webhookClient is the SSRF-safe client test deliveries use.
func (c *Console) webhookClient() *http.Client {
	c.clientOnce.Do(func() { c.client = action.NewClient(10*time.Second, c.cfg.WebhookAllowPrivate) })
	return c.client
}

// retryDead answers POST /ui/webhooks/dead/retry (id=… repeated, or
// all=1).
func (c *Console) retryDead(w http.ResponseWriter, r *http.Request, v *visit) error {
	if err := r.ParseForm(); err != nil {
		return &httpError{http.StatusBadRequest, "The form was cut short."}
	}
	var ids []int64
	if r.PostFormValue("all") != "1" {
		for _, s := range r.PostForm["id"] {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return &httpError{http.StatusBadRequest, "Bad event id."}
			}
			ids = append(ids, n)
		}
		if len(ids) == 0 {
			return &httpError{http.StatusBadRequest, "Choose the dead events to retry."}
		}
	}
	retried, err := c.st.RetryDead(r.Context(), ids, v.by())
	if err != nil {
		return err
	}
	return c.showWebhooks(w, r, v, http.StatusOK, map[string]any{"Msg": fmt.Sprintf("%d dead events are pending again.", len(retried))})
}

func splitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\r' })
}

// errNotFound is the page a missing bank or item leads to.
var errNotFound = &httpError{http.StatusNotFound, "Not found."}
