package cybertip

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Endpoints of NCMEC's reporting API.
const (
	// ProductionURL is the reporting API reports are filed to.
	ProductionURL = "https://report.cybertip.org/ispws"
	// TestURL is NCMEC's test environment: reports there are not
	// processed.
	TestURL = "https://exttest.cybertip.org/ispws"
)

// Errors callers branch on. A *Error wraps one of them.
var (
	// ErrRetryable: the request may succeed later (network failure, an
	// HTTP 5xx, 408 or 429, or the API's server-error code 1000).
	ErrRetryable = errors.New("cybertip: temporary failure")
	// ErrPermanent: repeating the request will fail again (refused
	// credentials, a rejected report); a person must act.
	ErrPermanent = errors.New("cybertip: request refused")
)

// Error is a failed API call.
type Error struct {
	Op     string // submit, upload, fileinfo, finish, retract
	Status int    // HTTP status, 0 if no answer
	Code   int    // the API's responseCode, 0 if none
	Msg    string
	// Uncertain: the request may have reached the API although no answer
	// came (the connection failed after it was sent). Repeating a submit
	// then risks a duplicate report.
	Uncertain bool
	kind      error
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "cybertip %s: ", e.Op)
	if e.Status != 0 {
		fmt.Fprintf(&b, "HTTP %d ", e.Status)
	}
	if e.Code != 0 {
		fmt.Fprintf(&b, "code %d ", e.Code)
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Unwrap returns ErrRetryable or ErrPermanent.
func (e *Error) Unwrap() error { return e.kind }

// codeServerError is the responseCode of an internal error of the API,
// which a later attempt may not meet.
const codeServerError = 1000

// Client calls the reporting API with HTTP basic authentication.
type Client struct {
	BaseURL  string // ProductionURL, TestURL, or a test server
	Username string
	Password string
	HTTP     *http.Client // nil: a client with a 60 s timeout
}

func (c *Client) httpClient() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return &http.Client{Timeout: 60 * time.Second}
}

func (c *Client) do(ctx context.Context, op, ctype string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(c.BaseURL, "/")+"/"+op, bytes.NewReader(body))
	if err != nil {
		return &Error{Op: op, Msg: err.Error(), kind: ErrPermanent}
	}
	req.Header.Set("Content-Type", ctype)
	req.SetBasicAuth(c.Username, c.Password)
	resp, err := c.httpClient().Do(req)
	if err != nil {
		var oe *net.OpError
		notSent := errors.As(err, &oe) && oe.Op == "dial"
		return &Error{Op: op, Msg: err.Error(), kind: ErrRetryable, Uncertain: !notSent && ctx.Err() == nil}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return &Error{Op: op, Status: resp.StatusCode, Msg: "reading the answer: " + err.Error(), kind: ErrRetryable}
	}
	switch {
	case resp.StatusCode >= 500, resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode == http.StatusRequestTimeout:
		return &Error{Op: op, Status: resp.StatusCode, Msg: snippet(data), kind: ErrRetryable}
	case resp.StatusCode != http.StatusOK:
		return &Error{Op: op, Status: resp.StatusCode, Msg: snippet(data), kind: ErrPermanent}
	}
	if err := xml.Unmarshal(data, out); err != nil {
		return &Error{Op: op, Status: resp.StatusCode, Msg: "unreadable answer: " + err.Error(), kind: ErrRetryable}
	}
	var code int
	var desc string
	switch r := out.(type) {
	case *Response:
		code, desc = r.ResponseCode, r.ResponseDescription
	case *DoneResponse:
		code = r.ResponseCode
	}
	if code != 0 {
		kind := ErrPermanent
		if code == codeServerError {
			kind = ErrRetryable
		}
		return &Error{Op: op, Status: resp.StatusCode, Code: code, Msg: desc, kind: kind}
	}
	return nil
}

func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// Submit checks r (Marshal) and opens it as a report; it returns NCMEC's
// report id. An invalid report is refused before anything is sent, with an
// error wrapping ErrInvalid that names the element.
func (c *Client) Submit(ctx context.Context, r *Report) (int64, error) {
	body, err := Marshal(r)
	if err != nil {
		return 0, err
	}
	return c.SubmitXML(ctx, body)
}

// SubmitXML sends an encoded report after checking it with Check.
func (c *Client) SubmitXML(ctx context.Context, body []byte) (int64, error) {
	if err := Check(body, &Report{}); err != nil {
		return 0, err
	}
	var resp Response
	if err := c.do(ctx, "submit", "text/xml; charset=utf-8", body, &resp); err != nil {
		return 0, err
	}
	if resp.ReportID == 0 {
		return 0, &Error{Op: "submit", Msg: "the answer has no reportId", kind: ErrRetryable}
	}
	return resp.ReportID, nil
}

// Upload adds a file to an open report; it returns the file id and checks
// the MD5 the API computed against md5hex when given.
func (c *Client) Upload(ctx context.Context, reportID int64, name string, data []byte, md5hex string) (string, error) {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	if err := mw.WriteField("id", strconv.FormatInt(reportID, 10)); err != nil {
		return "", err
	}
	fw, err := mw.CreateFormFile("file", name)
	if err != nil {
		return "", err
	}
	if _, err := fw.Write(data); err != nil {
		return "", err
	}
	if err := mw.Close(); err != nil {
		return "", err
	}
	var resp Response
	if err := c.do(ctx, "upload", mw.FormDataContentType(), body.Bytes(), &resp); err != nil {
		return "", err
	}
	if md5hex != "" && resp.Hash != "" && !strings.EqualFold(resp.Hash, md5hex) {
		return "", &Error{Op: "upload", Msg: fmt.Sprintf("received MD5 %s, sent %s", resp.Hash, md5hex), kind: ErrRetryable}
	}
	if resp.FileID == "" {
		return "", &Error{Op: "upload", Msg: "the answer has no fileId", kind: ErrRetryable}
	}
	return resp.FileID, nil
}

// FileInfo describes an uploaded file; d is checked before it is sent.
func (c *Client) FileInfo(ctx context.Context, d *FileDetails) error {
	body, err := Marshal(d)
	if err != nil {
		return err
	}
	var resp Response
	return c.do(ctx, "fileinfo", "text/xml; charset=utf-8", body, &resp)
}

// Finish completes a report: NCMEC starts processing it. It returns the
// file ids NCMEC holds for it.
func (c *Client) Finish(ctx context.Context, reportID int64) ([]string, error) {
	var resp DoneResponse
	err := c.do(ctx, "finish", "application/x-www-form-urlencoded", []byte(url.Values{"id": {strconv.FormatInt(reportID, 10)}}.Encode()), &resp)
	return resp.FileIDs, err
}

// Retract cancels a report that was not finished.
func (c *Client) Retract(ctx context.Context, reportID int64) error {
	var resp Response
	return c.do(ctx, "retract", "application/x-www-form-urlencoded", []byte(url.Values{"id": {strconv.FormatInt(reportID, 10)}}.Encode()), &resp)
}
