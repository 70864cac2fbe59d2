package exchange_test

import (
	"crypto/md5"
	"crypto/sha1"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/nigehban/nigehban/internal/exchange"
)

// ncmecRec is one entry of the fake NCMEC server.
type ncmecRec struct {
	At      time.Time
	Media   string // image or video
	Member  string
	ID      string
	Class   string
	MD5     string
	SHA1    string
	PDQ     string
	Deleted bool
}

// fakeNCMEC follows the Hash Sharing API v2 as NCMECAdapter documents it:
// basic authentication, time windows with start/size paging, paging URLs
// that carry a token which expires, 429 answers, deleted entries and
// feedback votes. Its records are rec(0)…rec(n-1), sorted by At, so a
// benchmark can serve millions without holding them.
type fakeNCMEC struct {
	mu   sync.Mutex
	n    int
	rec  func(i int) ncmecRec
	recs []ncmecRec // backing store of rec when built with add

	user, pass string
	maxSize    int

	tokens    map[string]bool // issued paging tokens still valid
	tokenSeq  int
	requests  int
	rateEvery int            // every k-th entries request answers 429 (0: never)
	malformed int            // the next k entries requests answer garbage
	fail5xx   int            // the next k entries requests answer 500
	votes     map[string]int // "member/media/id vote" -> PUT count
}

func newFakeNCMEC(t testing.TB) (*fakeNCMEC, *httptest.Server) {
	f := &fakeNCMEC{user: "esp", pass: "secret", maxSize: 1000, tokens: map[string]bool{}, votes: map[string]int{}}
	f.rec = func(i int) ncmecRec { return f.recs[i] }
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

// add appends records (At must not go backwards).
func (f *fakeNCMEC) add(rs ...ncmecRec) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.recs = append(f.recs, rs...)
	f.n = len(f.recs)
}

// expireTokens makes every paging URL issued so far invalid.
func (f *fakeNCMEC) expireTokens() {
	f.mu.Lock()
	defer f.mu.Unlock()
	clear(f.tokens)
}

func (f *fakeNCMEC) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u, p, ok := r.BasicAuth()
	if !ok || u != f.user || p != f.pass {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/v2/entries":
		f.entries(w, r)
	case r.Method == http.MethodPut && strings.HasPrefix(r.URL.Path, "/v2/entries/") && strings.HasSuffix(r.URL.Path, "/feedback"):
		f.feedback(w, r)
	default:
		http.NotFound(w, r)
	}
}

func (f *fakeNCMEC) entries(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.requests++
	if f.rateEvery > 0 && f.requests%f.rateEvery == 0 {
		f.mu.Unlock()
		w.Header().Set("Retry-After", "0")
		http.Error(w, "slow down", http.StatusTooManyRequests)
		return
	}
	if f.malformed > 0 {
		f.malformed--
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/xml")
		io.WriteString(w, `<queryResult xmlns="`+exchange.NCMECNamespace+`"><images count="1"><image><id>`)
		return
	}
	if f.fail5xx > 0 {
		f.fail5xx--
		f.mu.Unlock()
		http.Error(w, "boom", http.StatusInternalServerError)
		return
	}
	q := r.URL.Query()
	if tok := q.Get("token"); tok != "" && !f.tokens[tok] {
		f.mu.Unlock()
		http.Error(w, "paging url expired", http.StatusGone)
		return
	}
	n, rec := f.n, f.rec
	f.mu.Unlock()
	from, err1 := time.Parse(exchange.NCMECTime, q.Get("from"))
	to, err2 := time.Parse(exchange.NCMECTime, q.Get("to"))
	if err1 != nil || err2 != nil {
		http.Error(w, "bad from/to", http.StatusBadRequest)
		return
	}
	start, _ := strconv.Atoi(q.Get("start"))
	size, _ := strconv.Atoi(q.Get("size"))
	if size <= 0 || size > f.maxSize {
		size = f.maxSize
	}
	lo := sort.Search(n, func(i int) bool { return !rec(i).At.Before(from) })
	hi := sort.Search(n, func(i int) bool { return !rec(i).At.Before(to) })
	first := lo + start
	last := min(first+size, hi)
	next := ""
	if last < hi {
		f.mu.Lock()
		f.tokenSeq++
		tok := fmt.Sprintf("t%d", f.tokenSeq)
		f.tokens[tok] = true
		f.mu.Unlock()
		v := url.Values{"from": {q.Get("from")}, "to": {q.Get("to")}, "start": {strconv.Itoa(start + size)},
			"size": {strconv.Itoa(size)}, "max": {strconv.Itoa(start + 2*size)}, "token": {tok}}
		next = "/v2/entries?" + v.Encode()
	}
	buf := pageBufs.Get().(*[]byte)
	defer pageBufs.Put(buf)
	*buf = appendNCMECPage((*buf)[:0], rec, first, last, next)
	w.Header().Set("Content-Type", "application/xml")
	w.Write(*buf)
}

// pageBufs holds the fake server's page buffers (a page is ~300 KB).
var pageBufs = sync.Pool{New: func() any { return new([]byte) }}

// ncmecListNames are the four lists of a page, in the document's order,
// with the element name of their entries.
var ncmecListNames = [4]struct{ list, entry string }{
	{"images", "image"}, {"videos", "video"}, {"deletedImages", "deletedImage"}, {"deletedVideos", "deletedVideo"},
}

// listOf returns the index in ncmecListNames of the list r belongs to.
func listOf(r ncmecRec) int {
	switch {
	case r.Deleted && r.Media == "video":
		return 3
	case r.Deleted:
		return 2
	case r.Media == "video":
		return 1
	}
	return 0
}

// appendNCMECPage appends the document GET /v2/entries answers for records
// rec(first)…rec(last-1) and the paging URL next ("" on the last page). It
// writes the XML by hand (the server runs in the benchmark's process, so
// its CPU counts): TestFakeNCMECEncoding checks it gives the bytes
// encoding/xml's Encoder gives for the same NCMECResult.
func appendNCMECPage(b []byte, rec func(int) ncmecRec, first, last int, next string) []byte {
	recs := make([]ncmecRec, 0, last-first) // rec may compute each record
	var count [4]int
	for i := first; i < last; i++ {
		r := rec(i)
		recs = append(recs, r)
		count[listOf(r)]++
	}
	b = append(b, xml.Header...)
	b = append(b, `<queryResult xmlns="`...)
	b = appendXMLEscaped(b, exchange.NCMECNamespace)
	b = append(b, `">`...)
	for l, names := range ncmecListNames {
		b = append(b, '<')
		b = append(b, names.list...)
		b = append(b, ` count="`...)
		b = strconv.AppendInt(b, int64(count[l]), 10)
		b = append(b, `">`...)
		for k := 0; k < len(recs) && count[l] > 0; k++ {
			r := &recs[k]
			if listOf(*r) != l {
				continue
			}
			b = append(b, '<')
			b = append(b, names.entry...)
			b = append(b, `><member id="`...)
			b = appendXMLEscaped(b, r.Member)
			b = append(b, `">Member `...)
			b = appendXMLEscaped(b, r.Member)
			b = append(b, `</member><timestamp>`...)
			b = r.At.UTC().AppendFormat(b, exchange.NCMECTime)
			b = append(b, `</timestamp><id>`...)
			b = appendXMLEscaped(b, r.ID)
			b = append(b, `</id>`...)
			b = appendXMLElement(b, "classification", r.Class)
			b = append(b, `<fingerprints>`...)
			if !r.Deleted {
				b = appendXMLElement(b, "md5", r.MD5)
				b = appendXMLElement(b, "sha1", r.SHA1)
				b = appendXMLElement(b, "pdq", r.PDQ)
			}
			b = append(b, `</fingerprints></`...)
			b = append(b, names.entry...)
			b = append(b, '>')
		}
		b = append(b, `</`...)
		b = append(b, names.list...)
		b = append(b, '>')
	}
	b = append(b, `<paging>`...)
	b = appendXMLElement(b, "next", next)
	return append(b, `</paging></queryResult>`...)
}

// appendXMLElement appends <name>v</name>, nothing if v is empty
// (omitempty).
func appendXMLElement(b []byte, name, v string) []byte {
	if v == "" {
		return b
	}
	b = append(b, '<')
	b = append(b, name...)
	b = append(b, '>')
	b = appendXMLEscaped(b, v)
	b = append(b, "</"...)
	b = append(b, name...)
	return append(b, '>')
}

// appendXMLEscaped appends s escaped as encoding/xml's Encoder escapes
// text and attribute values.
func appendXMLEscaped(b []byte, s string) []byte {
	plain := true
	for i := 0; i < len(s) && plain; i++ {
		c := s[i]
		plain = c >= 0x20 && c < utf8.RuneSelf && c != '"' && c != '\'' && c != '&' && c != '<' && c != '>'
	}
	if plain {
		return append(b, s...)
	}
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		var esc string
		switch {
		case r == '"':
			esc = "&#34;"
		case r == '\'':
			esc = "&#39;"
		case r == '&':
			esc = "&amp;"
		case r == '<':
			esc = "&lt;"
		case r == '>':
			esc = "&gt;"
		case r == '\t':
			esc = "&#x9;"
		case r == '\n':
			esc = "&#xA;"
		case r == '\r':
			esc = "&#xD;"
		case r == utf8.RuneError && n == 1 || !(r >= 0x20 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF):
			esc = "\uFFFD"
		default:
			b = append(b, s[i:i+n]...)
			i += n
			continue
		}
		b = append(b, esc...)
		i += n
	}
	return b
}

// ncmecPageReflect is the page appendNCMECPage writes, built as an
// NCMECResult for encoding/xml (the reference of TestFakeNCMECEncoding).
func ncmecPageReflect(rec func(int) ncmecRec, first, last int, next string) exchange.NCMECResult {
	var res exchange.NCMECResult
	res.XMLName = xml.Name{Space: exchange.NCMECNamespace, Local: "queryResult"}
	for i := first; i < last; i++ {
		e := rec(i)
		x := exchange.NCMECEntry{ID: e.ID, Timestamp: e.At.UTC().Format(exchange.NCMECTime), Classification: e.Class}
		x.Member.ID, x.Member.Name = e.Member, "Member "+e.Member
		x.Fingerprints.MD5, x.Fingerprints.SHA1, x.Fingerprints.PDQ = e.MD5, e.SHA1, e.PDQ
		switch {
		case e.Deleted && e.Media == "video":
			x.XMLName.Local = "deletedVideo"
			x.Fingerprints.MD5, x.Fingerprints.SHA1, x.Fingerprints.PDQ = "", "", ""
			res.DeletedVideos.Entries = append(res.DeletedVideos.Entries, x)
		case e.Deleted:
			x.XMLName.Local = "deletedImage"
			x.Fingerprints.MD5, x.Fingerprints.SHA1, x.Fingerprints.PDQ = "", "", ""
			res.DeletedImages.Entries = append(res.DeletedImages.Entries, x)
		case e.Media == "video":
			x.XMLName.Local = "video"
			res.Videos.Entries = append(res.Videos.Entries, x)
		default:
			x.XMLName.Local = "image"
			res.Images.Entries = append(res.Images.Entries, x)
		}
	}
	res.Images.Count, res.Videos.Count = len(res.Images.Entries), len(res.Videos.Entries)
	res.DeletedImages.Count, res.DeletedVideos.Count = len(res.DeletedImages.Entries), len(res.DeletedVideos.Entries)
	res.Paging.Next = next
	return res
}

func (f *fakeNCMEC) feedback(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/v2/entries/"), "/")
	if len(parts) != 4 || (parts[1] != "image" && parts[1] != "video") {
		http.Error(w, "bad path", http.StatusBadRequest)
		return
	}
	body, _ := io.ReadAll(r.Body)
	var v struct {
		XMLName     xml.Name  `xml:"feedbackSubmission"`
		Affirmative *struct{} `xml:"affirmative"`
		Negative    *struct{} `xml:"negative"`
	}
	if err := xml.Unmarshal(body, &v); err != nil || (v.Affirmative == nil) == (v.Negative == nil) {
		http.Error(w, "bad feedback", http.StatusBadRequest)
		return
	}
	vote := "affirmative"
	if v.Negative != nil {
		vote = "negative"
	}
	f.mu.Lock()
	f.votes[parts[0]+"/"+parts[1]+"/"+parts[2]+" "+vote]++
	f.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// syntheticRec is entry i of a generated data set: distinct md5, sha1
// and PDQ values derived from i, one second apart from 2020-01-01.
func syntheticRec(i int) ncmecRec {
	m := md5.Sum([]byte(strconv.Itoa(i)))
	s := sha1.Sum([]byte(strconv.Itoa(i)))
	pdq := hex.EncodeToString(append(s[:], m[:12]...))
	return ncmecRec{At: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Second),
		Media: "image", Member: strconv.Itoa(1 + i%7), ID: "e" + strconv.Itoa(i), Class: []string{"A1", "A2", "B1", "B2"}[i%4],
		MD5: hex.EncodeToString(m[:]), SHA1: hex.EncodeToString(s[:]), PDQ: pdq}
}
