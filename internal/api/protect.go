package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/nigehban/nigehban/internal/protect"
)

// protectMaxBody bounds a self-submission: 2000 hashes, vPDQ of a long
// video included, fit in 1 MiB.
const protectMaxBody = 1 << 20

// protectPINHeader carries the PIN: never in the URL, so never in access
// logs or browser history.
const protectPINHeader = "X-Protect-PIN"

func (s *Server) protectService() (*protect.Service, error) {
	if s.protect == nil {
		return nil, errorf(http.StatusNotFound, "not_found", "self-submission is not available on this server")
	}
	return s.protect, nil
}

// protectError maps the service's errors to answers; a limit carries
// Retry-After.
func protectError(w http.ResponseWriter, err error) error {
	var le *protect.LimitError
	switch {
	case errors.As(err, &le):
		w.Header().Set("Retry-After", strconv.Itoa(int(le.RetryAfter.Seconds())+1))
		return errorf(http.StatusTooManyRequests, "rate_limited", "%v", err)
	case errors.Is(err, protect.ErrNotFound), errors.Is(err, protect.ErrWrongPIN):
		// One answer for both: a guesser learns nothing from which it was.
		return errorf(http.StatusNotFound, "not_found", "no case with this number and PIN")
	case errors.Is(err, protect.ErrProof):
		return errorf(http.StatusForbidden, "proof", "%v", err)
	case errors.Is(err, protect.ErrInvalid):
		return errorf(http.StatusBadRequest, "invalid", "%v", err)
	}
	return err
}

func (s *Server) protectChallenge(w http.ResponseWriter, r *http.Request, c caller) error {
	ps, err := s.protectService()
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, ps.Challenge())
	return nil
}

func (s *Server) protectSubmit(w http.ResponseWriter, r *http.Request, c caller) error {
	ps, err := s.protectService()
	if err != nil {
		return err
	}
	var sub protect.Submission
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&sub); err != nil {
		return errorf(http.StatusBadRequest, "invalid", "body: %v", err)
	}
	rc, err := ps.Submit(r.Context(), sub, c.remote)
	if err != nil {
		return protectError(w, err)
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, rc)
	return nil
}

func (s *Server) protectStatus(w http.ResponseWriter, r *http.Request, c caller) error {
	ps, err := s.protectService()
	if err != nil {
		return err
	}
	st, err := ps.Status(r.Context(), r.PathValue("number"), r.Header.Get(protectPINHeader), c.remote)
	if err != nil {
		return protectError(w, err)
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, st)
	return nil
}

func (s *Server) protectWithdraw(w http.ResponseWriter, r *http.Request, c caller) error {
	ps, err := s.protectService()
	if err != nil {
		return err
	}
	st, err := ps.Withdraw(r.Context(), r.PathValue("number"), r.Header.Get(protectPINHeader), c.remote)
	if err != nil {
		return protectError(w, err)
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, st)
	return nil
}
