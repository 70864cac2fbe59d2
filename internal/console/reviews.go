package console

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"

	"github.com/nigehban/nigehban/internal/account"
	"github.com/nigehban/nigehban/internal/bank"
	"github.com/nigehban/nigehban/internal/history"
	"github.com/nigehban/nigehban/internal/review"
)

// The review queue pages (issue 13). A moderator claims the next item
// (a lease: nobody else is offered it or can open it meanwhile), sees it,
// and decides. Uploader context is shown to child-safety moderators and
// above only, every view audited. A preview appears only from the
// platform's content_url, loaded by the reviewer's own browser (nothing is
// fetched or stored by the server), blurred and greyscale unless the
// reviewer clicks it (audited) or set previews to clear (each page shown
// clear is audited).

// ReviewCSP is the Content-Security-Policy of the review item page: CSP
// with images and media also from any https: origin, for the preview from
// the platform's content_url. Every other page keeps CSP.
const ReviewCSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' https:; media-src https:; " +
	"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// reviewFlash are the queue page's messages.
var reviewFlash = map[string]string{
	"empty":  "Nothing is waiting for you in the queue.",
	"done":   "Decision recorded.",
	"gone":   "That item is not yours to see: claim items with Claim next.",
	"saved":  "Preview setting saved.",
	"expiry": "Your claim on that item expired; claim again.",
}

// reviewer is the name a visitor holds leases and decides under.
func (v *visit) reviewer() string { return v.actor() }

// previewPref is the visitor's preview setting: theirs, else the
// organisation's default.
func (c *Console) previewPref(r *http.Request, v *visit) (pref string, own string, err error) {
	own, err = c.st.PreviewPref(r.Context(), v.user.ID)
	if err != nil {
		return "", "", err
	}
	if own != "" {
		return own, own, nil
	}
	if c.cfg.PreviewDefault == "clear" {
		return "clear", "", nil
	}
	return "blur", "", nil
}

func (c *Console) reviewQueue(w http.ResponseWriter, r *http.Request, v *visit) error {
	ctx := r.Context()
	stats, err := c.st.ReviewStats(ctx)
	if err != nil {
		return err
	}
	pref, own, err := c.previewPref(r, v)
	if err != nil {
		return err
	}
	data := map[string]any{"Stats": stats, "Pref": pref, "Own": own, "Default": c.cfg.PreviewDefault,
		"Msg": reviewFlash[r.URL.Query().Get("msg")]}
	if v.user.Role.Allows(account.Curator) {
		// Curators see the decisions of the queue (never uploader context).
		recent, err := c.st.ListReviews(ctx, review.Query{States: []review.State{review.Confirmed, review.Rejected}, Limit: 50})
		if err != nil {
			return err
		}
		data["Decided"] = recent
	}
	c.render(w, r, v, http.StatusOK, "reviews", "Review queue", data)
	return nil
}

func (c *Console) claimReview(w http.ResponseWriter, r *http.Request, v *visit) error {
	it, err := c.reviews.Claim(r.Context(), v.reviewer(), v.user.Role.Allows(account.Curator))
	if errors.Is(err, review.ErrEmpty) {
		http.Redirect(w, r, "/ui/reviews?msg=empty", http.StatusSeeOther)
		return nil
	}
	if err != nil {
		return err
	}
	http.Redirect(w, r, fmt.Sprintf("/ui/reviews/%d", it.ID), http.StatusSeeOther)
	return nil
}

// reviewItem loads the item of the path if the visitor may see it: they
// hold its lease, or they are a curator or above (who also see decided
// and waiting items, read-only). Otherwise it redirects to the queue and
// returns ok=false.
func (c *Console) reviewItem(w http.ResponseWriter, r *http.Request, v *visit) (review.Item, bool, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return review.Item{}, false, &httpError{http.StatusBadRequest, "No such review item."}
	}
	it, err := c.st.GetReview(r.Context(), id)
	if err != nil && !errors.Is(err, review.ErrNotFound) {
		return it, false, err
	}
	if err == nil && (it.Leased(v.reviewer(), c.reviews.Now()) || v.user.Role.Allows(account.Curator)) {
		return it, true, nil
	}
	http.Redirect(w, r, "/ui/reviews?msg=gone", http.StatusSeeOther)
	return it, false, nil
}

// previewKind says how a content URL is shown: "video" for video file
// extensions, else "image".
func previewKind(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "image"
	}
	switch strings.ToLower(path.Ext(p.Path)) {
	case ".mp4", ".webm", ".mov", ".m4v", ".ogv", ".mkv":
		return "video"
	}
	return "image"
}

func (c *Console) reviewPage(w http.ResponseWriter, r *http.Request, v *visit) error {
	it, ok, err := c.reviewItem(w, r, v)
	if err != nil || !ok {
		return err
	}
	return c.showReview(w, r, v, it, false)
}

// showReview renders an item; unblurred says the reviewer just clicked the
// preview (audited by the caller).
func (c *Console) showReview(w http.ResponseWriter, r *http.Request, v *visit, it review.Item, unblurred bool) error {
	ctx := r.Context()
	data := map[string]any{"Item": it, "Mine": it.Leased(v.reviewer(), c.reviews.Now())}
	if it.SignalID > 0 {
		if sig, err := c.st.GetSignal(ctx, it.SignalID); err == nil {
			data["Signal"] = sig // source, note and exchange metadata (extra)
		} else if !errors.Is(err, bank.ErrNotFound) {
			return err
		}
	}
	var up history.Uploader
	if it.HasUploader {
		if v.user.Role.Allows(account.ChildSafety) {
			u, err := c.reviews.Uploader(ctx, it, v.by()) // audited
			if err != nil {
				return err
			}
			up = u
			data["Uploader"] = u
		} else {
			// Moderators see the preview, never who uploaded: only the
			// content URL is taken from the sealed context.
			u, err := c.reviews.OpenUploader(it)
			if err != nil {
				return err
			}
			up.ContentURL = u.ContentURL
		}
		others, err := c.reviews.SameUploader(ctx, it, 20)
		if err != nil {
			return err
		}
		data["Others"] = others
	}
	if up.ContentURL != "" {
		pref, _, err := c.previewPref(r, v)
		if err != nil {
			return err
		}
		clear := unblurred || pref == "clear"
		if clear && !unblurred {
			if _, err := c.st.AppendAudit(ctx, v.by().Entry(review.ActPreview, "review:"+strconv.FormatInt(it.ID, 10),
				map[string]any{"how": "setting"})); err != nil {
				return err
			}
		}
		data["Preview"] = map[string]any{"URL": up.ContentURL, "Kind": previewKind(up.ContentURL), "Clear": clear}
		w.Header().Set("Content-Security-Policy", ReviewCSP)
	}
	if data["Mine"] == true {
		banks, err := c.banks.ListBanks(ctx)
		if err != nil {
			return err
		}
		data["Banks"] = banks
	}
	c.render(w, r, v, http.StatusOK, "review", fmt.Sprintf("Review item %d", it.ID), data)
	return nil
}

func (c *Console) decideReview(w http.ResponseWriter, r *http.Request, v *visit) error {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return &httpError{http.StatusBadRequest, "No such review item."}
	}
	if err := r.ParseForm(); err != nil {
		return &httpError{http.StatusBadRequest, "Bad form."}
	}
	d := review.Decision(r.PostForm.Get("decision"))
	opts := review.Options{AddTo: r.PostForm.Get("add_to"), Exclude: r.PostForm.Get("exclude") == "1"}
	_, err = c.reviews.Decide(r.Context(), id, d, strings.TrimSpace(r.PostForm.Get("comment")), opts, v.by())
	switch {
	case errors.Is(err, review.ErrNotHeld):
		http.Redirect(w, r, "/ui/reviews?msg=expiry", http.StatusSeeOther)
		return nil
	case errors.Is(err, review.ErrInvalid):
		return &httpError{http.StatusBadRequest, err.Error()}
	case errors.Is(err, review.ErrNotFound):
		return &httpError{http.StatusNotFound, "No such review item."}
	case err != nil:
		return err
	}
	http.Redirect(w, r, "/ui/reviews?msg=done", http.StatusSeeOther)
	return nil
}

// unblurReview records that the reviewer clicked the preview open (the
// audit entry is written before the answer). The page's script posts it
// with fetch and unblurs in place on 204; without script the form's post
// renders the item with the preview clear.
func (c *Console) unblurReview(w http.ResponseWriter, r *http.Request, v *visit) error {
	it, ok, err := c.reviewItem(w, r, v)
	if err != nil || !ok {
		return err
	}
	if _, err := c.st.AppendAudit(r.Context(), v.by().Entry(review.ActPreview, "review:"+strconv.FormatInt(it.ID, 10),
		map[string]any{"how": "click"})); err != nil {
		return err
	}
	if r.Header.Get("X-Nigehban-Fetch") == "1" {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	return c.showReview(w, r, v, it, true)
}

func (c *Console) setPreviewPref(w http.ResponseWriter, r *http.Request, v *visit) error {
	if err := r.ParseForm(); err != nil {
		return &httpError{http.StatusBadRequest, "Bad form."}
	}
	p := r.PostForm.Get("preview")
	if p != "" && p != "blur" && p != "clear" {
		return &httpError{http.StatusBadRequest, "Preview must be blur, clear or the default."}
	}
	if err := c.st.SetPreviewPref(r.Context(), v.user.ID, p); err != nil {
		return err
	}
	http.Redirect(w, r, "/ui/reviews?msg=saved", http.StatusSeeOther)
	return nil
}
