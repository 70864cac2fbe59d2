package protect

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"crypto/sha512"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:generate sh -c "GOOS=js GOARCH=wasm go build -trimpath -buildvcs=false -ldflags='-s -w' -o static/nigehban.wasm ../../cmd/nigehban-wasm && cp \"$(go env GOROOT)/lib/wasm/wasm_exec.js\" static/wasm_exec.js && chmod 644 static/nigehban.wasm static/wasm_exec.js"

// WasmBuild is how static/nigehban.wasm is built (go generate
// ./internal/protect); anyone can rebuild it from the same revision with the
// same Go release and compare its SHA-256 with the one the page publishes.
const WasmBuild = "GOOS=js GOARCH=wasm go build -trimpath -buildvcs=false -ldflags='-s -w' ./cmd/nigehban-wasm"

//go:embed static templates
var webFS embed.FS

// Prefix is where the page is served.
const Prefix = "/protect"

// CSP of the hashing page: only this origin's files, WebAssembly allowed
// ('wasm-unsafe-eval', nothing else of eval), the hashing worker from a
// blob: built from a script checked by Subresource Integrity, thumbnails and
// video frames from blob: URLs of the person's own files (local memory),
// requests to this origin only.
const CSP = "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; worker-src blob:; connect-src 'self'; " +
	"img-src 'self' blob:; media-src blob:; style-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// StatusCSP is the status page's: no WebAssembly, no worker, no media.
const StatusCSP = "default-src 'none'; script-src 'self'; connect-src 'self'; img-src 'self'; style-src 'self'; " +
	"form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// asset is an embedded file as served.
type asset struct {
	body, gz []byte
	ctype    string
	sri      string // sha384-…, for integrity attributes
}

// Web serves the public pages: /protect (hash and submit), /protect/status
// (status and withdrawal), their files under /protect/static/, and
// /protect/wasm.json, the published hash of the WebAssembly.
type Web struct {
	assets map[string]*asset
	pages  map[string]*template.Template
	wasm   WasmInfo
	mux    *http.ServeMux
}

// WasmInfo is what /protect/wasm.json publishes.
type WasmInfo struct {
	SHA256    string `json:"sha256"`     // hex SHA-256 of nigehban.wasm
	SRI       string `json:"integrity"`  // its Subresource Integrity value
	WorkerSRI string `json:"worker_sri"` // the worker script's (wasm_exec.js + worker.js)
	Size      int    `json:"size"`
	URL       string `json:"url"`
	Build     string `json:"build"` // the command that reproduces it
}

func sri(b []byte) string {
	s := sha512.Sum384(b)
	return "sha384-" + base64.StdEncoding.EncodeToString(s[:])
}

// NewWeb loads the embedded page and files.
func NewWeb() (*Web, error) {
	w := &Web{assets: map[string]*asset{}, pages: map[string]*template.Template{}, mux: http.NewServeMux()}
	types := map[string]string{".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
		".wasm": "application/wasm", ".svg": "image/svg+xml"}
	err := fs.WalkDir(webFS, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := webFS.ReadFile(p)
		if err != nil {
			return err
		}
		w.assets[path.Base(p)] = &asset{body: b, ctype: types[path.Ext(p)]}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("protect assets: %w", err)
	}
	for _, n := range []string{"nigehban.wasm", "wasm_exec.js", "worker.js", "protect.js", "status.js", "protect.css"} {
		if w.assets[n] == nil {
			return nil, fmt.Errorf("protect assets: %s missing (go generate ./internal/protect)", n)
		}
	}
	// The worker runs Go's wasm_exec.js and our worker code as one script,
	// which the page fetches with its integrity checked.
	worker := w.assets["worker.js"]
	worker.body = append(append(bytes.Clone(w.assets["wasm_exec.js"].body), '\n'), worker.body...)
	for _, a := range w.assets {
		a.sri = sri(a.body)
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		zw.Write(a.body)
		zw.Close()
		if buf.Len() < len(a.body) {
			a.gz = buf.Bytes()
		}
	}
	wasm := w.assets["nigehban.wasm"]
	sum := sha256.Sum256(wasm.body)
	w.wasm = WasmInfo{SHA256: hex.EncodeToString(sum[:]), SRI: wasm.sri, WorkerSRI: worker.sri, Size: len(wasm.body),
		URL: Prefix + "/static/nigehban.wasm", Build: WasmBuild}

	for _, n := range []string{"protect", "status"} {
		t, err := template.New("layout.html").Funcs(template.FuncMap{
			"sri": func(name string) string { return w.assets[name].sri },
		}).ParseFS(webFS, "templates/layout.html", "templates/"+n+".html")
		if err != nil {
			return nil, fmt.Errorf("protect template %s: %w", n, err)
		}
		w.pages[n] = t
	}

	w.mux.HandleFunc("GET "+Prefix, w.page("protect", CSP))
	w.mux.HandleFunc("GET "+Prefix+"/{$}", func(rw http.ResponseWriter, r *http.Request) {
		http.Redirect(rw, r, Prefix, http.StatusMovedPermanently)
	})
	w.mux.HandleFunc("GET "+Prefix+"/status", w.page("status", StatusCSP))
	w.mux.HandleFunc("GET "+Prefix+"/static/{name}", w.static)
	w.mux.HandleFunc("GET "+Prefix+"/wasm.json", func(rw http.ResponseWriter, r *http.Request) {
		headers(rw, StatusCSP)
		rw.Header().Set("Content-Type", "application/json")
		rw.Header().Set("Access-Control-Allow-Origin", "*") // anyone may check it
		json.NewEncoder(rw).Encode(w.wasm)
	})
	return w, nil
}

// Wasm returns what /protect/wasm.json publishes.
func (w *Web) Wasm() WasmInfo { return w.wasm }

// Handler serves Prefix and everything under it.
func (w *Web) Handler() http.Handler { return w.mux }

func headers(rw http.ResponseWriter, csp string) {
	h := rw.Header()
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=(), interest-cohort=()")
}

func (w *Web) static(rw http.ResponseWriter, r *http.Request) {
	a := w.assets[r.PathValue("name")]
	if a == nil || r.PathValue("name") == "wasm_exec.js" {
		http.NotFound(rw, r)
		return
	}
	headers(rw, StatusCSP)
	h := rw.Header()
	h.Set("Content-Type", a.ctype)
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", `"`+a.sri+`"`)
	h.Set("Vary", "Accept-Encoding")
	if r.Header.Get("If-None-Match") == `"`+a.sri+`"` {
		rw.WriteHeader(http.StatusNotModified)
		return
	}
	body := a.body
	if a.gz != nil && strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
		h.Set("Content-Encoding", "gzip")
		body = a.gz
	}
	http.ServeContent(rw, r, "", time.Time{}, bytes.NewReader(body))
}

// pageView is what the templates get.
type pageView struct {
	Lang, Dir, Other, OtherName string
	T                           map[string]string
	Msgs                        template.JS // the strings scripts show, as JSON
	Wasm                        WasmInfo
	Ages, Categories            []string
}

func (w *Web) page(name, csp string) http.HandlerFunc {
	return func(rw http.ResponseWriter, r *http.Request) {
		lang := r.URL.Query().Get("lang")
		if _, ok := texts[lang]; !ok {
			lang = "ur"
		}
		v := pageView{Lang: lang, Dir: "rtl", Other: "en", OtherName: "English", T: texts[lang], Wasm: w.wasm,
			Ages: Ages[1:], Categories: Categories[1:]}
		if lang == "en" {
			v.Dir, v.Other, v.OtherName = "ltr", "ur", "اردو"
		}
		msgs, _ := json.Marshal(v.T)
		v.Msgs = template.JS(msgs)
		var buf bytes.Buffer
		if err := w.pages[name].Execute(&buf, v); err != nil {
			http.Error(rw, "page error", http.StatusInternalServerError)
			return
		}
		headers(rw, csp)
		rw.Header().Set("Content-Type", "text/html; charset=utf-8")
		rw.Header().Set("Cache-Control", "no-store")
		rw.Write(buf.Bytes())
	}
}
