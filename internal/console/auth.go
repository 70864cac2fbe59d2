package console

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/nigehban/nigehban/internal/account"
)

// The login pages. Every refusal shows one message, whatever its reason
// (unknown user, wrong password, locked, disabled), so guessing teaches
// nothing; the reason is in the audit log.

const refused = "Login refused. Check the name and password; after repeated failures an account is locked for a while."

func (c *Console) loginForm(w http.ResponseWriter, r *http.Request, v *visit) error {
	if v.has && v.sess.Stage == account.StageFull {
		http.Redirect(w, r, "/ui/", http.StatusSeeOther)
		return nil
	}
	c.render(w, r, v, http.StatusOK, "login", "Log in", map[string]string{"Next": localPath(r.URL.Query().Get("next"))})
	return nil
}

// throttled answers 429 when the caller's address has used up its failed
// logins (see throttle).
func (c *Console) throttled(w http.ResponseWriter, r *http.Request, v *visit) bool {
	if !c.fails.blocked(v.remote, time.Now()) {
		return false
	}
	c.log.Warn("console: login attempts throttled", "remote", v.remote)
	w.Header().Set("Retry-After", strconv.Itoa(int(loginEvery.Seconds())))
	c.fail(w, r, v, &httpError{http.StatusTooManyRequests, "Too many failed attempts from your address; wait a little and try again."})
	return true
}

func (c *Console) login(w http.ResponseWriter, r *http.Request, v *visit) error {
	if c.throttled(w, r, v) {
		return nil
	}
	name, next := r.PostFormValue("name"), localPath(r.PostFormValue("next"))
	st, err := c.acc.Login(r.Context(), name, r.PostFormValue("password"), v.remote)
	if errors.Is(err, account.ErrBadLogin) {
		c.fails.fail(v.remote, time.Now())
		c.render(w, r, v, http.StatusUnauthorized, "login", "Log in", map[string]string{"Error": refused, "Name": name, "Next": next})
		return nil
	}
	if err != nil {
		return err
	}
	c.started(w, r, st, next)
	return nil
}

// started sets the session cookie of a new login and sends the browser to
// its next step.
func (c *Console) started(w http.ResponseWriter, r *http.Request, st account.Started, next string) {
	c.setSession(w, st.Token, st.Session.ExpiresAt)
	switch st.Session.Stage {
	case account.StageTOTP:
		next = "/ui/totp"
	case account.StageEnrol:
		next = "/ui/enrol"
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (c *Console) setupForm(w http.ResponseWriter, r *http.Request, v *visit) error {
	c.render(w, r, v, http.StatusOK, "setup", "First login", map[string]any{"Min": account.MinPasswordLen})
	return nil
}

func (c *Console) setup(w http.ResponseWriter, r *http.Request, v *visit) error {
	show := func(status int, msg string) error {
		c.render(w, r, v, status, "setup", "First login", map[string]any{"Min": account.MinPasswordLen, "Error": msg})
		return nil
	}
	if c.throttled(w, r, v) {
		return nil
	}
	pw := r.PostFormValue("password")
	if pw != r.PostFormValue("password2") {
		return show(http.StatusBadRequest, "The two passwords differ.")
	}
	st, err := c.acc.FirstLogin(r.Context(), r.PostFormValue("token"), pw, v.remote)
	switch {
	case errors.Is(err, account.ErrInvalid):
		return show(http.StatusBadRequest, err.Error())
	case errors.Is(err, account.ErrBadLogin):
		c.fails.fail(v.remote, time.Now())
		return show(http.StatusUnauthorized, "This setup token is unknown, used or expired. Ask an administrator for a new one.")
	case err != nil:
		return err
	}
	c.started(w, r, st, "/ui/")
	return nil
}

func (c *Console) totpForm(w http.ResponseWriter, r *http.Request, v *visit) error {
	c.render(w, r, v, http.StatusOK, "totp", "Two-factor code", map[string]string{})
	return nil
}

func (c *Console) totp(w http.ResponseWriter, r *http.Request, v *visit) error {
	if c.throttled(w, r, v) {
		return nil
	}
	st, err := c.acc.VerifyTOTP(r.Context(), v.sess, v.user, r.PostFormValue("code"), v.remote)
	if errors.Is(err, account.ErrBadLogin) {
		c.fails.fail(v.remote, time.Now())
		if errors.Is(err, account.ErrLocked) {
			c.acc.Logout(r.Context(), v.sess, v.user, v.remote)
			c.clearSession(w)
		}
		c.render(w, r, v, http.StatusUnauthorized, "totp", "Two-factor code", map[string]string{"Error": "Wrong or already used code."})
		return nil
	}
	if err != nil {
		return err
	}
	c.started(w, r, st, "/ui/")
	return nil
}

func (c *Console) enrolForm(w http.ResponseWriter, r *http.Request, v *visit) error {
	secret, err := account.NewTOTPSecret()
	if err != nil {
		return err
	}
	c.showEnrol(w, r, v, http.StatusOK, secret, "")
	return nil
}

func (c *Console) showEnrol(w http.ResponseWriter, r *http.Request, v *visit, status int, secret []byte, msg string) {
	c.render(w, r, v, status, "enrol", "Two-factor login", map[string]any{
		"Secret": account.EncodeTOTPSecret(secret), "URI": account.TOTPURI(c.acc.Config().Issuer, v.user.Name, secret),
		"Required": v.sess.Stage == account.StageEnrol, "Replace": v.user.HasTOTP(), "Error": msg})
}

func (c *Console) enrol(w http.ResponseWriter, r *http.Request, v *visit) error {
	secret, err := account.DecodeTOTPSecret(r.PostFormValue("secret"))
	if err != nil {
		return &httpError{http.StatusBadRequest, "The form's key is damaged; reload the page."}
	}
	st, err := c.acc.EnrolTOTP(r.Context(), v.sess, v.user, secret, r.PostFormValue("code"), r.PostFormValue("current"), v.remote)
	if errors.Is(err, account.ErrBadLogin) {
		c.showEnrol(w, r, v, http.StatusUnauthorized, secret, "The code of your current authenticator is wrong.")
		return nil
	}
	if errors.Is(err, account.ErrInvalid) {
		c.showEnrol(w, r, v, http.StatusBadRequest, secret, "That code does not match; check the app and the phone's clock, then try again.")
		return nil
	}
	if errors.Is(err, account.ErrNoDataKey) {
		c.showEnrol(w, r, v, http.StatusServiceUnavailable, secret,
			"This server cannot store a second factor: it was started without a data key. Ask its operator to restart it with --data-key (see \"nigehban datakey generate\").")
		return nil
	}
	if err != nil {
		return err
	}
	if st.Token != "" {
		c.started(w, r, st, "/ui/")
		return nil
	}
	http.Redirect(w, r, "/ui/", http.StatusSeeOther)
	return nil
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request, v *visit) error {
	c.clearSession(w)
	if err := c.acc.Logout(r.Context(), v.sess, v.user, v.remote); err != nil {
		return err
	}
	http.Redirect(w, r, "/ui/login", http.StatusSeeOther)
	return nil
}
