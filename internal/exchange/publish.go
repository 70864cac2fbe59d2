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

// OtherChange is a change of a block that the partner does not read (of
// another bank, or not a signal change): what its leaf hash covers, with
// its content only as a hash.
type OtherChange struct {
	Seq  int64   `json:"seq"`
	Op   bank.Op `json:"op"`
	Bank string  `json:"bank"`
	Body []byte  `json:"body"` // SHA-256 of the content
}

// PublishedBlock is one committed block of the change log (see ChangeLog):
// the changes with From < seq <= To, the published bank's signal changes
// in full and the others as OtherChange, and the audit entry that commits
// to them with its inclusion proof in the tree the partner asked for.
type PublishedBlock struct {
	From    int64             `json:"from"`
	To      int64             `json:"to"`
	Leaf    []byte            `json:"leaf"`  // the commitment's log leaf (audit.EncodeLeaf)
	Proof   [][]byte          `json:"proof"` // its RFC 6962 inclusion proof
	Changes []PublishedChange `json:"changes"`
	Others  []OtherChange     `json:"others"`
}

// PublishedPage is the answer of GET /partner/v1/banks/{bank}/changes.
type PublishedPage struct {
	Bank   string           `json:"bank"`
	Blocks []PublishedBlock `json:"blocks"`
	// Last is the seq to ask from next: the end of the last block.
	Last int64 `json:"last"`
	More bool  `json:"more"`
}

// Publisher serves published banks' change logs to partners:
//
//	GET /partner/v1/banks/{bank}/changes?since=SEQ&limit=N&tree=SIZE
//
// with "Authorization: Bearer nigp_…" naming a token allowed that bank.
// SIZE is the size of our log's checkpoint the partner verified: the page
// is the committed blocks after SEQ whose commitments that tree holds,
// each proven against it (see ChangeLog).
type Publisher struct {
	Partners  PartnerStore
	ChangeLog *ChangeLog
	Log       *slog.Logger
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
	q := r.URL.Query()
	since, err1 := strconv.ParseInt(q.Get("since"), 10, 64)
	tree, err2 := strconv.ParseInt(q.Get("tree"), 10, 64)
	if err1 != nil || err2 != nil || since < 0 || tree <= 0 {
		http.Error(w, "since= (a block boundary) and tree= (the size of the log checkpoint you verified) are required", http.StatusBadRequest)
		return
	}
	limit, _ := strconv.Atoi(q.Get("limit"))
	if limit <= 0 || limit > 5000 {
		limit = 1000
	}
	page, err := p.ChangeLog.Page(r.Context(), name, since, tree, limit)
	if err != nil {
		if p.Log != nil {
			p.Log.Error("partner changes", "err", err)
		}
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(page)
}
