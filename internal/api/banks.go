package api

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/nigehban/nigehban/internal/action"
	"github.com/nigehban/nigehban/internal/apikey"
	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/bank"
	"github.com/nigehban/nigehban/internal/hashlist"
)

// decodeJSON reads a JSON body strictly: unknown fields are an error, so a
// misspelt field is not silently ignored.
func decodeJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return errorf(http.StatusBadRequest, "bad_json", "invalid JSON body: %v", err)
	}
	return nil
}

// by is the actor of an act through the API: the key and the client's
// address. The store audits each change with it, in the change's own
// transaction.
func (c caller) by() audit.Actor { return audit.Actor{Name: c.actor(), Remote: c.remote} }

func (s *Server) listBanks(w http.ResponseWriter, r *http.Request, _ caller) error {
	bs, err := s.svc.ListBanks(r.Context())
	if err != nil {
		return err
	}
	if bs == nil {
		bs = []bank.Bank{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"banks": bs})
	return nil
}

type bankBody struct {
	Name         string       `json:"name"`
	Description  *string      `json:"description"`
	Enabled      *bool        `json:"enabled"`
	Action       *bank.Action `json:"action"`
	PDQThreshold *int         `json:"pdq_threshold"`
	ReviewAbove  *int         `json:"review_above"` // hits farther than this go to review (0: off)
	Negative     *bool        `json:"negative"`     // an allow list: its hits suppress the other banks'
}

// update is the BankUpdate the body asks for.
func (b bankBody) update() bank.BankUpdate {
	return bank.BankUpdate{Description: b.Description, Enabled: b.Enabled, Action: b.Action, PDQThreshold: b.PDQThreshold,
		ReviewAbove: b.ReviewAbove, Negative: b.Negative}
}

func (s *Server) createBank(w http.ResponseWriter, r *http.Request, c caller) error {
	var body bankBody
	if err := decodeJSON(r, &body); err != nil {
		return err
	}
	b := bank.NewBank(body.Name)
	b = body.update().Apply(b)
	b, err := s.svc.CreateBank(r.Context(), b, c.by())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, b)
	return nil
}

func (s *Server) getBank(w http.ResponseWriter, r *http.Request, _ caller) error {
	name := r.PathValue("name")
	b, err := s.svc.GetBank(r.Context(), name)
	if err != nil {
		return err
	}
	stats, err := s.svc.BankStats(r.Context(), name)
	if err != nil {
		return err
	}
	out := map[string]any{"bank": b, "signals": stats}
	if hk, ok := (*s.webhooks.Load())[name]; ok {
		out["webhook"] = hk // without its secret
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) updateBank(w http.ResponseWriter, r *http.Request, c caller) error {
	var body bankBody
	if err := decodeJSON(r, &body); err != nil {
		return err
	}
	if body.Name != "" && body.Name != r.PathValue("name") {
		return errorf(http.StatusBadRequest, "invalid", "banks cannot be renamed")
	}
	u := body.update()
	b, changed, err := s.svc.UpdateBank(r.Context(), r.PathValue("name"), u, c.by())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"bank": b, "changed": changed})
	return nil
}

func (s *Server) setWebhook(w http.ResponseWriter, r *http.Request, c caller) error {
	name := r.PathValue("name")
	var body struct {
		URL        string   `json:"url"`
		Secret     string   `json:"secret"`
		Categories []string `json:"categories"` // fire only for these (empty: all)
		Types      []string `json:"types"`      // fire only for these signal types (empty: all)
	}
	if err := decodeJSON(r, &body); err != nil {
		return err
	}
	for i, t := range body.Types {
		pt, err := bank.ParseType(t)
		if err != nil {
			return errorf(http.StatusBadRequest, "invalid", "types[%d]: %v", i, err)
		}
		body.Types[i] = string(pt)
	}
	if _, err := s.svc.GetBank(r.Context(), name); err != nil {
		return err
	}
	if body.URL != "" {
		if err := action.CheckURL(body.URL, s.cfg.WebhookAllowPrivate); err != nil {
			return errorf(http.StatusBadRequest, "invalid", "%v", err)
		}
		if len(body.Secret) < 16 {
			return errorf(http.StatusBadRequest, "invalid", "webhook secret must be at least 16 characters")
		}
	}
	hook := action.Webhook{Bank: name, URL: body.URL, Secret: body.Secret, Categories: body.Categories, Types: body.Types}
	if err := s.st.SetWebhook(r.Context(), hook, c.by()); err != nil {
		return err
	}
	if err := s.reloadWebhooks(r.Context()); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, hook)
	return nil
}

// signalBody is a signal as callers send it; quality is optional.
type signalBody struct {
	Type     bank.Type         `json:"type"`
	Value    string            `json:"value"`
	Category string            `json:"category"`
	Source   string            `json:"source"`
	Note     string            `json:"note"`
	Quality  *int              `json:"quality"`
	Extra    map[string]string `json:"extra"`
}

func (b signalBody) signal() bank.Signal {
	q := -1
	if b.Quality != nil {
		q = *b.Quality
	}
	return bank.Signal{Type: b.Type, Value: b.Value, Category: b.Category, Source: b.Source, Note: b.Note, Quality: q, Extra: b.Extra}
}

func (s *Server) addSignals(w http.ResponseWriter, r *http.Request, c caller) error {
	name := r.PathValue("name")
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		return err
	}
	// One signal, or {"signals":[…]}: both refuse unknown fields.
	var bodies []signalBody
	if bytes.Contains(raw, []byte(`"signals"`)) {
		var many struct {
			Signals []signalBody `json:"signals"`
		}
		if err := strictJSON(raw, &many); err != nil {
			return errorf(http.StatusBadRequest, "bad_json", "invalid signals: %v", err)
		}
		bodies = many.Signals
	} else {
		var one signalBody
		if err := strictJSON(raw, &one); err != nil {
			return errorf(http.StatusBadRequest, "bad_json", "invalid signal: %v", err)
		}
		bodies = []signalBody{one}
	}
	if len(bodies) == 0 || len(bodies) > bank.MaxAddBatch {
		return errorf(http.StatusBadRequest, "invalid", "give 1 to %d signals (bulk: /import)", bank.MaxAddBatch)
	}
	sigs := make([]bank.Signal, len(bodies))
	for i, b := range bodies {
		sigs[i] = b.signal()
	}
	// One transaction and one audit entry for the whole batch.
	out, err := s.svc.AddSignals(r.Context(), name, sigs, c.by())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"results": out})
	return nil
}

// strictJSON decodes one JSON value, refusing unknown fields and trailing
// data.
func strictJSON(raw []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("data after the JSON value")
	}
	return nil
}

func (s *Server) importSignals(w http.ResponseWriter, r *http.Request, c caller) error {
	name := r.PathValue("name")
	q := r.URL.Query()
	br := bufio.NewReaderSize(r.Body, 64<<10)
	head, _ := br.Peek(4096)
	format := hashlist.Format(q.Get("format"))
	if format == "" || format == "auto" {
		format = hashlist.Detect(head, "")
	}
	rd, err := hashlist.NewReader(br, format, hashlist.ReaderOptions{Type: q.Get("type")})
	if err != nil {
		return errorf(http.StatusBadRequest, "invalid", "%v", err)
	}
	atomic := q.Get("atomic") != "false"
	res, err := s.svc.Import(r.Context(), name, rd, bank.ImportOptions{Actor: c.by(), Format: format, Atomic: atomic,
		Category: q.Get("category"), Source: q.Get("source"), MaxBadLines: maxImportBadLines})
	if err != nil {
		e := importError(err, &res)
		writeJSON(w, e.status, map[string]any{"error": map[string]string{"code": e.code, "message": err.Error()}, "result": res})
		return nil
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

// maxImportBadLines bounds the bad lines an import answer lists (all are
// counted in result.bad).
const maxImportBadLines = 100

// importError maps a failed import to its answer. Bad lines (an atomic
// import imports nothing then) and a malformed list (a CSV header without a
// value column, broken VICS JSON: fatal, its line added to res.BadLines) are
// the caller's: 422 with the lines. A body over the limit is 413; anything
// else maps as every error does.
func importError(err error, res *bank.ImportResult) *apiError {
	switch {
	case errors.Is(err, bank.ErrBadLines):
		return errorf(http.StatusUnprocessableEntity, "bad_lines", "%v", err)
	case badList(err):
		res.Bad++
		if len(res.BadLines) < maxImportBadLines {
			msg := err.Error()
			var le *hashlist.ListError
			if errors.As(err, &le) {
				msg = le.Error()
			}
			res.BadLines = append(res.BadLines, bank.BadLine{Line: hashlist.ErrorLine(err), Err: msg})
		}
		return errorf(http.StatusUnprocessableEntity, "bad_list", "%v", err)
	}
	return toAPIError(err)
}

// badList reports whether a reader failed on the list's content (rather
// than on reading the body or on the store).
func badList(err error) bool {
	var le *hashlist.ListError
	if errors.As(err, &le) {
		return true
	}
	for _, e := range []error{hashlist.ErrSyntax, hashlist.ErrMissingField, hashlist.ErrLineTooLong, hashlist.ErrBadQuality,
		hashlist.ErrUnknownType, hashlist.ErrAmbiguousType, hashlist.ErrBadValue, hashlist.ErrBadText} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

func (s *Server) listExclusions(w http.ResponseWriter, r *http.Request, _ caller) error {
	xs, err := s.svc.Exclusions(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	if xs == nil {
		xs = []bank.Exclusion{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"exclusions": xs})
	return nil
}

func (s *Server) addExclusion(w http.ResponseWriter, r *http.Request, c caller) error {
	var body struct {
		Type   bank.Type `json:"type"`
		Value  string    `json:"value"`
		Reason string    `json:"reason"`
	}
	if err := decodeJSON(r, &body); err != nil {
		return err
	}
	x, added, err := s.svc.AddExclusion(r.Context(), r.PathValue("name"), body.Type, body.Value, body.Reason, c.by())
	if err != nil {
		return err
	}
	status := http.StatusOK
	if added {
		status = http.StatusCreated
	}
	writeJSON(w, status, map[string]any{"exclusion": x, "added": added})
	return nil
}

func (s *Server) removeExclusion(w http.ResponseWriter, r *http.Request, c caller) error {
	q := r.URL.Query()
	if q.Get("type") == "" || q.Get("value") == "" {
		return errorf(http.StatusBadRequest, "invalid", "?type= and ?value= name the exclusion to remove")
	}
	if err := s.svc.RemoveExclusion(r.Context(), r.PathValue("name"), bank.Type(q.Get("type")), q.Get("value"), c.by()); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"removed": true})
	return nil
}

func pathID(r *http.Request, name string) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue(name), 10, 64)
	if err != nil || id <= 0 {
		return 0, errorf(http.StatusBadRequest, "invalid", "%s must be a positive integer", name)
	}
	return id, nil
}

func (s *Server) listSignals(w http.ResponseWriter, r *http.Request, _ caller) error {
	name := r.PathValue("name")
	after, err := queryInt(r, "after", 0, 1<<62)
	if err != nil {
		return err
	}
	limit, err := queryInt(r, "limit", 1000, 5000)
	if err != nil {
		return err
	}
	if _, err := s.svc.GetBank(r.Context(), name); err != nil {
		return err
	}
	q := bank.SignalQuery{Banks: []string{name}, AfterID: after, Limit: int(limit), IncludeRemoved: r.URL.Query().Get("removed") == "true"}
	if t := r.URL.Query().Get("type"); t != "" {
		pt, err := bank.ParseType(t)
		if err != nil {
			return errorf(http.StatusBadRequest, "invalid", "%v", err)
		}
		q.Types = []bank.Type{pt}
	}
	sigs := []bank.Signal{}
	if limit > 0 {
		err = s.svc.ScanSignals(r.Context(), q, func(sig *bank.Signal) error {
			sigs = append(sigs, *sig)
			return nil
		})
		if err != nil {
			return err
		}
	}
	out := map[string]any{"signals": sigs}
	if len(sigs) == int(limit) && limit > 0 {
		out["next_after"] = sigs[len(sigs)-1].ID
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) getSignal(w http.ResponseWriter, r *http.Request, _ caller) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	sig, err := s.svc.GetSignal(r.Context(), id)
	if err != nil {
		return err
	}
	if sig.Bank != r.PathValue("name") {
		return errorf(http.StatusNotFound, "not_found", "signal %d is not in bank %s", id, r.PathValue("name"))
	}
	writeJSON(w, http.StatusOK, sig)
	return nil
}

func (s *Server) removeSignal(w http.ResponseWriter, r *http.Request, c caller) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	reason := r.URL.Query().Get("reason")
	if reason == "" {
		return errorf(http.StatusBadRequest, "invalid", "?reason= is required: removals are curated decisions")
	}
	sig, changed, err := s.svc.RemoveSignal(r.Context(), r.PathValue("name"), bank.SignalRef{ID: id}, reason, c.by())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"signal": sig, "changed": changed})
	return nil
}

func queryInt(r *http.Request, name string, def, max int64) (int64, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 || n > max {
		return 0, errorf(http.StatusBadRequest, "invalid", "?%s must be an integer from 0 to %d", name, max)
	}
	return n, nil
}

func (s *Server) changes(w http.ResponseWriter, r *http.Request, _ caller) error {
	since, err := queryInt(r, "since", 0, 1<<62)
	if err != nil {
		return err
	}
	limit, err := queryInt(r, "limit", 1000, 5000)
	if err != nil {
		return err
	}
	cs, err := s.svc.Changes(r.Context(), since, int(limit))
	if err != nil {
		return err
	}
	if cs == nil {
		cs = []bank.Change{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"changes": cs})
	return nil
}

func (s *Server) auditLog(w http.ResponseWriter, r *http.Request, _ caller) error {
	since, err := queryInt(r, "since", 0, 1<<62)
	if err != nil {
		return err
	}
	es, err := s.st.ListAudit(r.Context(), since, 1000)
	if err != nil {
		return err
	}
	if es == nil {
		es = []audit.Entry{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"entries": es})
	return nil
}

func (s *Server) listKeys(w http.ResponseWriter, r *http.Request, _ caller) error {
	ks, err := s.st.ListAPIKeys(r.Context())
	if err != nil {
		return err
	}
	if ks == nil {
		ks = []apikey.Key{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"keys": ks})
	return nil
}

func (s *Server) createKey(w http.ResponseWriter, r *http.Request, c caller) error {
	var body struct {
		Name string `json:"name"`
		Role string `json:"role"`
	}
	if err := decodeJSON(r, &body); err != nil {
		return err
	}
	role, err := apikey.ParseRole(body.Role)
	if err != nil {
		return errorf(http.StatusBadRequest, "invalid", "%v", err)
	}
	k, secret, err := apikey.New(body.Name, role, c.actor())
	if err != nil {
		return errorf(http.StatusBadRequest, "invalid", "%v", err)
	}
	if k, err = s.st.CreateAPIKey(r.Context(), k, c.by()); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{"key": k, "secret": secret})
	return nil
}

func (s *Server) revokeKey(w http.ResponseWriter, r *http.Request, c caller) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := s.st.RevokeAPIKey(r.Context(), id, c.by()); err != nil {
		return err
	}
	s.keyMu.Lock()
	s.keys = nil // drop cached keys here at once; other replicas within keyCacheTTL
	s.keyMu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"revoked": id})
	return nil
}
