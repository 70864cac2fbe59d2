package scan

import (
	"html/template"
	"io"
	"strings"

	"github.com/nigehban/nigehban/internal/progress"
)

// reportLimit bounds each list in report.html; the manifest has the rest.
const reportLimit = 1000

// reportRow is one file in a list of report.html.
type reportRow struct {
	Path    string
	Source  string
	Type    string
	Size    int64
	Detail  string
	Matches []Match
}

// reportData is what report.html is rendered from.
type reportData struct {
	Custody    *Custody
	Counts     *Counts
	Matched    []reportRow
	Mismatches []reportRow
	Errors     []reportRow
	// More* count the rows left out of each list.
	MoreMatched, MoreMismatches, MoreErrors int
}

func newReportData(c *Custody) *reportData { return &reportData{Custody: c} }

func (r *reportData) add(e *Entry) {
	row := func() reportRow {
		t := string(e.Type)
		if e.Format != "" {
			t += "/" + string(e.Format)
		}
		if t == "" {
			t = e.Kind
		}
		return reportRow{Path: e.Path, Source: e.Source, Type: t, Size: e.Size}
	}
	if len(e.Matches) > 0 {
		if len(r.Matched) < reportLimit {
			rr := row()
			rr.Matches = e.Matches
			r.Matched = append(r.Matched, rr)
		} else {
			r.MoreMatched++
		}
	}
	if e.ExtensionMismatch {
		if len(r.Mismatches) < reportLimit {
			rr := row()
			rr.Detail = "content is " + string(e.Format)
			if e.Format == "" {
				rr.Detail = "content not recognised"
			}
			r.Mismatches = append(r.Mismatches, rr)
		} else {
			r.MoreMismatches++
		}
	}
	if e.Error != "" {
		if len(r.Errors) < reportLimit {
			rr := row()
			rr.Detail = e.Error
			r.Errors = append(r.Errors, rr)
		} else {
			r.MoreErrors++
		}
	}
}

func (r *reportData) render(w io.Writer) error { return reportTemplate.Execute(w, r) }

var reportTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"bytes":  progress.Bytes,
	"sorted": sortedKeys,
	"join":   strings.Join,
	"last": func(runs []RunInfo) RunInfo {
		if len(runs) == 0 {
			return RunInfo{}
		}
		return runs[len(runs)-1]
	},
}).Parse(reportHTML))

// reportHTML is self-contained: no scripts, fonts, images or links to
// anything outside the file. html/template escapes every value.
const reportHTML = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>Scan report: case {{.Custody.Case}}</title>
<style>
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:2em auto;max-width:72em;padding:0 1em;color:#1b1b1b}
h1{font-size:1.5em;margin-bottom:.2em}h2{font-size:1.15em;margin-top:2em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.5em 0;width:100%}th,td{border:1px solid #d0d0d0;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#f2f2f2}td.n{text-align:right;white-space:nowrap}.path{font-family:ui-monospace,monospace;word-break:break-all}
.alert{background:#fde8e8}.ok{background:#e8f5e9}.muted{color:#666}.cards{display:flex;flex-wrap:wrap;gap:.6em}
.card{border:1px solid #ccc;border-radius:4px;padding:.4em .8em;min-width:9em}.card b{display:block;font-size:1.4em}
</style>
</head>
<body>
<h1>Scan report: case {{.Custody.Case}}</h1>
<p class="muted">This report shows no image content. Every file is listed in manifest.jsonl and manifest.csv;
custody.json records the sha256 of each output file. Check them with <code>nigehban scan verify</code>.</p>

<table>
<tr><th>Case</th><td>{{.Custody.Case}}</td></tr>
<tr><th>Examiner</th><td>{{.Custody.Examiner}}</td></tr>
<tr><th>Tool</th><td>{{.Custody.Tool.Name}} {{.Custody.Tool.Version}} ({{.Custody.Tool.Go}})</td></tr>
<tr><th>Host / user</th><td>{{.Custody.Host}} / {{.Custody.OSUser}}</td></tr>
<tr><th>Started</th><td>{{.Custody.Started}}</td></tr>
<tr><th>Ended</th><td>{{.Custody.Ended}}</td></tr>
<tr><th>Runs</th><td>{{len .Custody.Runs}}{{range .Custody.Runs}}<br>{{.Started}} → {{.Ended}}: {{.Status}}, {{.Entries}} entries, by {{.Examiner}}{{end}}</td></tr>
<tr><th>Sources</th><td>{{range .Custody.Sources}}<div class="path">{{.Path}} ({{.Type}}{{if .SHA256}}, sha256 {{.SHA256}}{{end}})</div>{{end}}</td></tr>
</table>

<h2>Summary</h2>
<div class="cards">
<div class="card {{if .Counts.Matched}}alert{{else}}ok{{end}}"><b>{{.Counts.Matched}}</b>files matched a bank</div>
<div class="card"><b>{{.Counts.Entries}}</b>entries</div>
<div class="card"><b>{{.Counts.Hashed}}</b>files hashed ({{bytes .Counts.Bytes}})</div>
<div class="card"><b>{{.Counts.Archives}}</b>archives opened ({{.Counts.Members}} members)</div>
<div class="card"><b>{{.Counts.Known}}</b>known files</div>
<div class="card {{if .Counts.ExtensionMismatches}}alert{{end}}"><b>{{.Counts.ExtensionMismatches}}</b>extension mismatches</div>
<div class="card {{if .Counts.Errors}}alert{{end}}"><b>{{.Counts.Errors}}</b>errors</div>
</div>

<h2>Matches by category</h2>
{{if .Counts.MatchesByCategory}}<table><tr><th>Category</th><th>Matches</th></tr>
{{range $k := sorted .Counts.MatchesByCategory}}<tr><td>{{$k}}</td><td class="n">{{index $.Counts.MatchesByCategory $k}}</td></tr>
{{end}}</table>
<table><tr><th>Bank</th><th>Matches</th></tr>
{{range $k := sorted .Counts.MatchesByBank}}<tr><td>{{$k}}</td><td class="n">{{index $.Counts.MatchesByBank $k}}</td></tr>
{{end}}</table>{{else}}<p>No file matched a bank.</p>{{end}}

<h2>Matched files</h2>
{{if .Matched}}<table><tr><th>Path</th><th>Type</th><th>Size</th><th>Matches</th></tr>
{{range .Matched}}<tr class="alert"><td class="path">{{.Path}}</td><td>{{.Type}}</td><td class="n">{{.Size}}</td>
<td>{{range .Matches}}<div>{{.Bank}}{{if .Category}} / {{.Category}}{{end}}: {{.SignalType}}{{if eq .SignalType "pdq"}} distance {{.Distance}}{{end}}{{if eq .SignalType "vpdq"}} {{printf "%.0f" .QueryPercent}}% of frames{{end}}{{if .Label}} ({{.Label}}){{end}}</div>{{end}}</td></tr>
{{end}}</table>{{if .MoreMatched}}<p>… and {{.MoreMatched}} more: see the manifest.</p>{{end}}{{else}}<p>None.</p>{{end}}

<h2>Files by type</h2>
<table><tr><th>Type</th><th>Files</th></tr>
{{range $k := sorted .Counts.ByType}}<tr><td>{{$k}}</td><td class="n">{{index $.Counts.ByType $k}}</td></tr>
{{end}}</table>
<table><tr><th>Format (from content)</th><th>Files</th></tr>
{{range $k := sorted .Counts.ByFormat}}<tr><td>{{$k}}</td><td class="n">{{index $.Counts.ByFormat $k}}</td></tr>
{{end}}</table>
<p>{{.Counts.Symlinks}} links and {{.Counts.Special}} special files were recorded without being followed or read.</p>

<h2>Extension mismatches</h2>
{{if .Mismatches}}<p>The name's extension does not fit the content: a common way of hiding pictures and videos.</p>
<table><tr><th>Path</th><th>Detected</th><th>Size</th></tr>
{{range .Mismatches}}<tr><td class="path">{{.Path}}</td><td>{{.Detail}}</td><td class="n">{{.Size}}</td></tr>
{{end}}</table>{{if .MoreMismatches}}<p>… and {{.MoreMismatches}} more: see the manifest.</p>{{end}}{{else}}<p>None.</p>{{end}}

<h2>Errors</h2>
{{if .Errors}}<table><tr><th>Path</th><th>Type</th><th>Error</th></tr>
{{range .Errors}}<tr><td class="path">{{.Path}}</td><td>{{.Type}}</td><td>{{.Detail}}</td></tr>
{{end}}</table>{{if .MoreErrors}}<p>… and {{.MoreErrors}} more: see the manifest.</p>{{end}}{{else}}<p>None.</p>{{end}}

<h2>Banks</h2>
{{with last .Custody.Runs}}{{if .Banks}}<table><tr><th>Bank</th><th>Kind</th><th>Identity</th><th>Signals</th></tr>
{{range .Banks}}<tr><td>{{.Name}}</td><td>{{.Kind}}</td><td class="path">{{if .SHA256}}{{.Path}}<br>sha256 {{.SHA256}}{{else}}{{.Store}} at change {{.ChangeSeq}}{{end}}</td>
<td>{{range $t, $n := .Signals}}{{$t}} {{$n}} {{end}}</td></tr>
{{end}}</table>{{else}}<p>No bank was given: files were hashed, not matched.</p>{{end}}
{{if .Known}}<p>Known-file lists: {{range .Known}}<span class="path">{{.Path}}</span> (sha256 {{.SHA256}}) {{end}}</p>{{end}}{{end}}
</body>
</html>
`
