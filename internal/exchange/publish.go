package exchange

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/bank"
)

// Publishing a bank to partner instances. A partner is given a bearer token
// (shown once, stored as its SHA-256) naming the banks it may read; it
// reads their change log at PublishPrefix and verifies our transparency
// log's signed checkpoints at /log/ (see NigehbanAdapter).

// PublishPrefix is where Publisher is mounted.
const PublishPrefix = "/partner/"

// PartnerToken is a partner's access to published banks.
type PartnerToken struct {
	ID        int64      `json:"id"`
	Name      string     `json:"name"`
	Banks     []string   `json:"banks"`
	CreatedAt time.Time  `json:"created_at"`
	CreatedBy string     `json:"created_by"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

// PartnerStore keeps partner tokens.
type PartnerStore interface {
	// CreatePartnerToken stores a token's hash for partner name, audited
	// ActPublish. ErrExists if the name is taken.
	CreatePartnerToken(ctx context.Context, name string, banks []string, hash []byte, by audit.Actor) (PartnerToken, error)
	// PartnerByHash returns the unrevoked token with this hash, or
	// ErrNotFound.
	PartnerByHash(ctx context.Context, hash []byte) (PartnerToken, error)
}

// ActPublish is the audit action of a new partner token.
const ActPublish = "exchange.publish"

// NewPartnerToken creates a token for partner name to read banks and
// returns its secret, shown once.
func NewPartnerToken(ctx context.Context, st PartnerStore, name string, banks []string, by audit.Actor) (string, error) {
	if !nameRE.MatchString(name) || len(banks) == 0 {
		return "", errors.Join(ErrInvalid, errors.New("a partner needs a name and at least one bank"))
	}
	for _, b := range banks {
		if err := bank.ValidateName(b); err != nil {
			return "", err
		}
	}
	var raw [32]byte
	rand.Read(raw[:])
	secret := "nigp_" + base64.RawURLEncoding.EncodeToString(raw[:])
	sum := sha256.Sum256([]byte(secret))
	if _, err := st.CreatePartnerToken(ctx, name, banks, sum[:], by); err != nil {
		return "", err
	}
	return secret, nil
}

// PublishedChange is one change of a published bank as partners read it.
type PublishedChange struct {
	Seq    int64     `json:"seq"`
	Op     bank.Op   `json:"op"`
	At     time.Time `json:"at"`
	Type   bank.Type `json:"type"`
	Value  string    `json:"value"`
	Class  string    `json:"category,omitempty"`
	Source string    `json:"source,omitempty"`
	Extra  Extra     `json:"extra,omitempty"`
	Reason string    `json:"reason,omitempty"`
}

// Extra is a signal's extra fields.
type Extra = map[string]string

// PublishedPage is the answer of GET /partner/v1/banks/{bank}/changes.
type PublishedPage struct {
	Bank    string            `json:"bank"`
	Changes []PublishedChange `json:"changes"`
	// Last is the seq to ask from next (the last change examined, which
	// may belong to another bank).
	Last int64 `json:"last"`
	More bool  `json:"more"`
}

// Publisher serves published banks' change logs to partners:
//
//	GET /partner/v1/banks/{bank}/changes?since=SEQ&limit=N
//
// with "Authorization: Bearer nigp_…" naming a token allowed that bank.
type Publisher struct {
	Partners PartnerStore
	Banks    bank.Store
	Log      *slog.Logger
}

// ServeHTTP implements http.Handler.
func (p *Publisher) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, PublishPrefix+"v1/banks/")
	name, tail, ok2 := strings.Cut(rest, "/")
	if r.Method != http.MethodGet || !ok || !ok2 || tail != "changes" {
		http.NotFound(w, r)
		return
	}
	secret, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	sum := sha256.Sum256([]byte(secret))
	tok, err := p.Partners.PartnerByHash(r.Context(), sum[:])
	if !ok || err != nil {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	if !slices.Contains(tok.Banks, name) {
		http.Error(w, "bank not published to this partner", http.StatusForbidden)
		return
	}
	since, _ := strconv.ParseInt(r.URL.Query().Get("since"), 10, 64)
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	if limit <= 0 || limit > 5000 {
		limit = 1000
	}
	chs, err := p.Banks.Changes(r.Context(), since, limit)
	if err != nil {
		if p.Log != nil {
			p.Log.Error("partner changes", "err", err)
		}
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	page := PublishedPage{Bank: name, Changes: []PublishedChange{}, Last: since, More: len(chs) == limit}
	for _, c := range chs {
		page.Last = c.Seq
		if c.Bank != name || c.Signal == nil || (c.Op != bank.OpSignalAdd && c.Op != bank.OpSignalRemove) {
			continue
		}
		page.Changes = append(page.Changes, PublishedChange{Seq: c.Seq, Op: c.Op, At: c.At, Type: c.Signal.Type,
			Value: c.Signal.Value, Class: c.Signal.Category, Source: c.Signal.Source, Extra: c.Signal.Extra, Reason: c.Reason})
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(page)
}
