// Package cybertiptest is a stand-in for NCMEC's reporting API in tests:
// the documented submit, upload, fileinfo, finish and retract calls with
// basic authentication, refusing XML that does not validate (Check, and
// the XSD through xmllint when Server.XSD is set) or calls out of order
// (files after finish, unknown reports or files). Faults can be injected
// to test retries and permanent failures.
package cybertiptest

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/nigehban/nigehban/internal/report/cybertip"
)

// Report is what the server holds of one submitted report.
type Report struct {
	ID        int64
	XML       []byte
	Files     map[string][]byte // file id → bytes
	FileInfo  map[string]*cybertip.FileDetails
	Finished  bool
	Retracted bool
}

// Fault is an injected failure of the next calls of one operation.
type Fault struct {
	Status int // HTTP status to answer (200 with Code for an API error)
	Code   int // responseCode when Status is 200
	Times  int // how many calls fail; then calls succeed
}

// Server is a test reporting API.
type Server struct {
	*httptest.Server
	User, Password string
	// XSD, when set, is the schema every report and file description
	// is validated against with xmllint (which must be installed).
	XSD string

	mu      sync.Mutex
	next    int64
	reports map[int64]*Report
	faults  map[string]*Fault
	calls   map[string]int
	Refused []string // why requests were refused, in order
}

// New starts a server; Close it when done.
func New(user, password string) *Server {
	s := &Server{User: user, Password: password, next: 1000, reports: map[int64]*Report{},
		faults: map[string]*Fault{}, calls: map[string]int{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /submit", s.submit)
	mux.HandleFunc("POST /upload", s.upload)
	mux.HandleFunc("POST /fileinfo", s.fileinfo)
	mux.HandleFunc("POST /finish", s.finish)
	mux.HandleFunc("POST /retract", s.retract)
	s.Server = httptest.NewServer(s.auth(mux))
	return s
}

// Fail makes the next f.Times calls of op fail as f says.
func (s *Server) Fail(op string, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[op] = &f
}

// Calls returns how many calls of op reached the server (failed ones
// included).
func (s *Server) Calls(op string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[op]
}

// Reports returns copies of the reports submitted, by id.
func (s *Server) Reports() map[int64]Report {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[int64]Report{}
	for id, r := range s.reports {
		out[id] = *r
	}
	return out
}

func (s *Server) auth(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if !ok || u != s.User || p != s.Password {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// fault counts a call of op and reports whether it was answered with an
// injected failure.
func (s *Server) fault(w http.ResponseWriter, op string) bool {
	s.mu.Lock()
	s.calls[op]++
	f := s.faults[op]
	if f == nil || f.Times <= 0 {
		s.mu.Unlock()
		return false
	}
	f.Times--
	s.mu.Unlock()
	if f.Status != http.StatusOK {
		http.Error(w, "injected failure", f.Status)
		return true
	}
	answer(w, cybertip.Response{ResponseCode: f.Code, ResponseDescription: "injected failure"})
	return true
}

func answer(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "text/xml")
	b, _ := xml.Marshal(v)
	w.Write(append([]byte(xml.Header), b...))
}

// refuse answers a request the API rejects (code 4000-range, permanent).
func (s *Server) refuse(w http.ResponseWriter, code int, msg string) {
	s.mu.Lock()
	s.Refused = append(s.Refused, msg)
	s.mu.Unlock()
	answer(w, cybertip.Response{ResponseCode: code, ResponseDescription: msg})
}

func (s *Server) validate(body []byte, v any) error {
	if err := cybertip.Check(body, v); err != nil {
		return err
	}
	if s.XSD == "" {
		return nil
	}
	dir, err := os.MkdirTemp("", "cybertiptest")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	f := filepath.Join(dir, "doc.xml")
	if err := os.WriteFile(f, body, 0o600); err != nil {
		return err
	}
	out, err := exec.Command("xmllint", "--noout", "--schema", s.XSD, f).CombinedOutput()
	if err != nil {
		return fmt.Errorf("xmllint: %v: %s", err, out)
	}
	return nil
}

func (s *Server) submit(w http.ResponseWriter, r *http.Request) {
	if s.fault(w, "submit") {
		return
	}
	body, _ := io.ReadAll(r.Body)
	if err := s.validate(body, &cybertip.Report{}); err != nil {
		s.refuse(w, 4000, "invalid report: "+err.Error())
		return
	}
	s.mu.Lock()
	s.next++
	rep := &Report{ID: s.next, XML: body, Files: map[string][]byte{}, FileInfo: map[string]*cybertip.FileDetails{}}
	s.reports[rep.ID] = rep
	s.mu.Unlock()
	answer(w, cybertip.Response{ResponseDescription: "Success", ReportID: rep.ID})
}

// open returns the open (not finished or retracted) report id names.
func (s *Server) open(id string) (*Report, string) {
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		return nil, "bad report id"
	}
	rep := s.reports[n]
	switch {
	case rep == nil:
		return nil, "unknown report"
	case rep.Finished:
		return nil, "report already finished"
	case rep.Retracted:
		return nil, "report retracted"
	}
	return rep, ""
}

func (s *Server) upload(w http.ResponseWriter, r *http.Request) {
	if s.fault(w, "upload") {
		return
	}
	if err := r.ParseMultipartForm(32 << 20); err != nil {
		s.refuse(w, 4001, "bad upload: "+err.Error())
		return
	}
	f, _, err := r.FormFile("file")
	if err != nil {
		s.refuse(w, 4001, "upload without a file")
		return
	}
	data, _ := io.ReadAll(f)
	s.mu.Lock()
	rep, why := s.open(r.FormValue("id"))
	if rep == nil {
		s.mu.Unlock()
		s.refuse(w, 4002, "upload: "+why)
		return
	}
	fid := fmt.Sprintf("f%d", len(rep.Files)+1)
	rep.Files[fid] = data
	s.mu.Unlock()
	sum := md5.Sum(data)
	answer(w, cybertip.Response{ResponseDescription: "Success", ReportID: rep.ID, FileID: fid, Hash: hex.EncodeToString(sum[:])})
}

func (s *Server) fileinfo(w http.ResponseWriter, r *http.Request) {
	if s.fault(w, "fileinfo") {
		return
	}
	body, _ := io.ReadAll(r.Body)
	if err := s.validate(body, &cybertip.FileDetails{}); err != nil {
		s.refuse(w, 4000, "invalid file details: "+err.Error())
		return
	}
	var d cybertip.FileDetails
	if err := xml.Unmarshal(body, &d); err != nil {
		s.refuse(w, 4000, "invalid file details: "+err.Error())
		return
	}
	s.mu.Lock()
	rep, why := s.open(strconv.FormatInt(d.ReportID, 10))
	if rep == nil || rep.Files[d.FileID] == nil {
		s.mu.Unlock()
		if why == "" {
			why = "unknown file " + d.FileID
		}
		s.refuse(w, 4002, "fileinfo: "+why)
		return
	}
	rep.FileInfo[d.FileID] = &d
	s.mu.Unlock()
	answer(w, cybertip.Response{ResponseDescription: "Success", ReportID: rep.ID, FileID: d.FileID})
}

func (s *Server) finish(w http.ResponseWriter, r *http.Request) {
	if s.fault(w, "finish") {
		return
	}
	s.mu.Lock()
	rep, why := s.open(r.FormValue("id"))
	if rep == nil {
		s.mu.Unlock()
		s.refuse(w, 4002, "finish: "+why)
		return
	}
	rep.Finished = true
	var ids []string
	for id := range rep.Files {
		ids = append(ids, id)
	}
	s.mu.Unlock()
	answer(w, cybertip.DoneResponse{ReportID: rep.ID, FileIDs: ids})
}

func (s *Server) retract(w http.ResponseWriter, r *http.Request) {
	if s.fault(w, "retract") {
		return
	}
	s.mu.Lock()
	rep, why := s.open(r.FormValue("id"))
	if rep == nil {
		s.mu.Unlock()
		s.refuse(w, 4002, "retract: "+why)
		return
	}
	rep.Retracted = true
	s.mu.Unlock()
	answer(w, cybertip.Response{ResponseDescription: "Success", ReportID: rep.ID})
}
