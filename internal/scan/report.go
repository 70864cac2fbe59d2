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
	courtFields
}

func newReportData(c *Custody) *reportData {
	return &reportData{Custody: c, courtFields: courtFields{Notes: c.Notes, Declaration: c.Declaration, categories: c.Categories}}
}

// CategoryName renders a category code for the template.
func (r *reportData) CategoryName(code string) string { return r.categoryName(code) }

// DeclarationText is the examiner's declaration for the template.
func (r *reportData) DeclarationText() string { return r.declaration() }

func (r *reportData) add(e *Entry) {
	r.addCourt(e)
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
	"pkt":    bothTimes,
	"add1":   func(i int) int { return i + 1 },
	"flags":  entryFlags,
	"carved": carvedAt,
	"inside": func(p string) string { _, in := splitContainer(p); return in },
	"outer":  func(p string) string { o, _ := splitContainer(p); return o },
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
.pre{white-space:pre-wrap}h3{font-size:1em;margin:1.2em 0 .2em}
.card{border:1px solid #ccc;border-radius:4px;padding:.4em .8em;min-width:9em}.card b{display:block;font-size:1.4em}
</style>
</head>
<body>
<h1>Forensic scan report: case {{.Custody.Case}}</h1>
<p class="muted">This report shows no image content. Every file is listed in manifest.jsonl and manifest.csv;
custody.json records the sha256 of each output file. Check them with <code>nigehban scan verify</code>.
Times are Pakistan Standard Time (PKT, UTC+5) with UTC in brackets.</p>

<table>
<tr><th>Case</th><td>{{.Custody.Case}}</td></tr>
<tr><th>Examiner</th><td>{{.Custody.Examiner}}</td></tr>
<tr><th>Tool</th><td>{{.Custody.Tool.Name}} version {{.Custody.Tool.Version}}, commit {{if .Custody.Tool.Revision}}{{.Custody.Tool.Revision}}{{if .Custody.Tool.Modified}} (modified){{end}}{{else}}not recorded{{end}} ({{.Custody.Tool.Go}}{{if .Custody.Tool.JPEGDecoder}}, JPEG decoder {{.Custody.Tool.JPEGDecoder}}{{end}})</td></tr>
<tr><th>Host / user</th><td>{{.Custody.Host}} / {{.Custody.OSUser}}</td></tr>
<tr><th>Started</th><td>{{pkt .Custody.Started}}</td></tr>
<tr><th>Ended</th><td>{{pkt .Custody.Ended}}</td></tr>
<tr><th>Runs</th><td>{{len .Custody.Runs}}{{range .Custody.Runs}}<br>{{pkt .Started}} → {{pkt .Ended}}: {{.Status}}, {{.Entries}} entries, by {{.Examiner}}{{end}}</td></tr>
</table>

<h2>Examiner's notes</h2>
{{if .Notes}}<p class="pre">{{.Notes}}</p>{{else}}<p>None given.</p>{{end}}

<h2>Declaration</h2>
<p class="pre">{{.DeclarationText}}</p>
{{if not .Declaration}}<p class="muted">(Standard text: the examiner gave no declaration of their own.)</p>{{end}}
<p>Signed: ______________________ ({{.Custody.Examiner}}) &nbsp; Date: ______________</p>

<h2>Sources</h2>
<table><tr><th>Source</th><th>Type</th><th>Size</th><th>Acquisition hashes</th></tr>
{{range .Custody.Sources}}<tr><td class="path">{{.Path}}</td><td>{{.Type}}</td><td class="n">{{if .Size}}{{.Size}}{{end}}</td>
<td class="path">{{if .SHA256}}md5 {{.MD5}}<br>sha1 {{.SHA1}}<br>sha256 {{.SHA256}}{{else}}a folder: each file's hashes are in the manifest{{end}}</td></tr>
{{end}}</table>

<h2>Disk images</h2>
{{if .Images}}{{range .Images}}<table>
<tr><th>Image</th><td class="path">{{.Path}} ({{.Acquisition.Format}}{{if .Acquisition.Segments}}, segments {{join .Acquisition.Segments ", "}}{{end}})</td></tr>
<tr><th>Image file hashes</th><td class="path">md5 {{.MD5}}<br>sha1 {{.SHA1}}<br>sha256 {{.SHA256}}</td></tr>
<tr><th>Media size</th><td>{{.Acquisition.MediaSize}} bytes</td></tr>
{{if eq .Acquisition.Format "ewf"}}<tr><th>Stored hashes</th><td class="path">md5 {{or .Acquisition.StoredMD5 "none"}}<br>sha1 {{or .Acquisition.StoredSHA1 "none"}}</td></tr>
<tr><th>Media hashes now</th><td class="path">md5 {{.Acquisition.MediaMD5}}<br>sha1 {{.Acquisition.MediaSHA1}}</td></tr>
<tr><th>Verification</th><td class="{{if eq .Acquisition.Verification "verified"}}ok{{else}}alert{{end}}">{{.Acquisition.Verification}}</td></tr>
{{range $k, $v := .Acquisition.Metadata}}<tr><th>E01 {{$k}}</th><td>{{$v}}</td></tr>{{end}}{{else}}<tr><th>Verification</th><td>raw image: its own hashes above are the acquisition hashes to compare with the acquisition record</td></tr>{{end}}
<tr><th>Volumes</th><td>{{range .Acquisition.Volumes}}<div>{{if .Name}}{{.Name}}{{else}}whole image{{end}}: {{or .FileSystem "no file system read"}}{{if .Scheme}}, {{.Scheme}} type {{.Type}}{{end}}, offset {{.Offset}}, {{.Size}} bytes{{if .Error}}, error: {{.Error}}{{end}}</div>{{end}}</td></tr>
<tr><th>Files listed</th><td>{{if .Members}}{{.Members}}{{else}}0{{end}}</td></tr>
</table>{{end}}{{else}}<p>No disk image among the sources.</p>{{end}}

<h2>Summary</h2>
<div class="cards">
<div class="card {{if .Counts.Matched}}alert{{else}}ok{{end}}"><b>{{.Counts.Matched}}</b>files matched a bank</div>
<div class="card"><b>{{.Counts.Entries}}</b>entries</div>
<div class="card"><b>{{.Counts.Hashed}}</b>files hashed ({{bytes .Counts.Bytes}})</div>
<div class="card"><b>{{.Counts.Archives}}</b>archives opened ({{.Counts.Members}} members)</div>
<div class="card"><b>{{.Counts.DiskImages}}</b>disk images opened ({{.Counts.Deleted}} deleted files, {{.Counts.Carved}} carved{{with .Counts.CarvedListed}}, {{.}} carved files already listed{{end}})</div>
<div class="card"><b>{{.Counts.Known}}</b>known files</div>
<div class="card {{if .Counts.ExtensionMismatches}}alert{{end}}"><b>{{.Counts.ExtensionMismatches}}</b>extension mismatches</div>
<div class="card {{if .Counts.Errors}}alert{{end}}"><b>{{.Counts.Errors}}</b>errors</div>
</div>

<h2>Matches by category</h2>
{{if .Counts.MatchesByCategory}}<table><tr><th>Category</th><th>Matches</th></tr>
{{range $k := sorted .Counts.MatchesByCategory}}<tr><td>{{$.CategoryName $k}}</td><td class="n">{{index $.Counts.MatchesByCategory $k}}</td></tr>
{{end}}</table>
<table><tr><th>Bank</th><th>Matches</th></tr>
{{range $k := sorted .Counts.MatchesByBank}}<tr><td>{{$k}}</td><td class="n">{{index $.Counts.MatchesByBank $k}}</td></tr>
{{end}}</table>{{else}}<p>No file matched a bank.</p>{{end}}

<h2>Matched files</h2>
{{if .Matched}}<table><tr><th>Path</th><th>Type</th><th>Size</th><th>Matches</th></tr>
{{range .Matched}}<tr class="alert"><td class="path">{{.Path}}</td><td>{{.Type}}</td><td class="n">{{.Size}}</td>
<td>{{range .Matches}}<div>{{.Bank}}{{if .Category}} / {{$.CategoryName .Category}}{{end}}: {{.SignalType}}{{if eq .SignalType "pdq"}} distance {{.Distance}}{{end}}{{if eq .SignalType "vpdq"}} {{printf "%.0f" .QueryPercent}}% of frames{{end}}{{if .Transform}} [{{.Transform}}]{{end}}{{if .Label}} ({{.Label}}){{end}}</div>{{end}}</td></tr>
{{end}}</table>{{if .MoreMatched}}<p>… and {{.MoreMatched}} more: see the manifest.</p>{{end}}{{else}}<p>None.</p>{{end}}

<h2>Evidence sheets</h2>
{{if .Sheets}}{{range $i, $e := .Sheets}}<h3>Item {{add1 $i}}: <span class="path">{{$e.Path}}</span></h3>
<table>
<tr><th>Source</th><td class="path">{{$e.Source}}</td></tr>
<tr><th>File on the source</th><td class="path">{{outer $e.Path}}</td></tr>
{{if $e.Container}}<tr><th>Path inside</th><td class="path">{{inside $e.Path}}</td></tr>{{end}}
{{if $e.FSID}}<tr><th>File-system id</th><td>{{$e.FSID}}</td></tr>{{end}}
{{with carved $e}}<tr><th>Carved at</th><td>{{.}}</td></tr>{{end}}
<tr><th>State</th><td>{{with flags $e}}{{.}}{{else}}allocated (live){{end}}</td></tr>
<tr><th>Size</th><td>{{$e.Size}} bytes</td></tr>
<tr><th>Type</th><td>{{$e.Type}} {{$e.Format}}{{if $e.Width}} {{$e.Width}}×{{$e.Height}}{{end}}</td></tr>
<tr><th>Hashes</th><td class="path">md5 {{$e.MD5}}<br>sha1 {{$e.SHA1}}<br>sha256 {{$e.SHA256}}{{if $e.PDQ}}<br>pdq {{$e.PDQ}} (quality {{$e.Quality}}){{end}}</td></tr>
<tr><th>Times</th><td>{{if $e.Btime}}created {{pkt $e.Btime}}<br>{{end}}{{if $e.Mtime}}modified {{pkt $e.Mtime}}<br>{{end}}{{if $e.Ctime}}changed {{pkt $e.Ctime}}<br>{{end}}{{if $e.Atime}}accessed {{pkt $e.Atime}}{{end}}</td></tr>
<tr><th>Matches</th><td>{{range $e.Matches}}<div>bank {{.Bank}}, category {{$.CategoryName .Category}}, {{.SignalType}}{{if eq .SignalType "pdq"}}, distance {{.Distance}}{{else if eq .SignalType "vpdq"}}, {{printf "%.0f" .QueryPercent}}% of frames{{else}}, exact{{end}}{{if .Transform}} [{{.Transform}}]{{end}}{{if .Label}} ({{.Label}}){{end}}</div>{{end}}</td></tr>
</table>{{end}}{{else}}<p>No file matched a bank.</p>{{end}}

<h2>Timeline of matched files</h2>
{{with .Timeline}}<table><tr><th>Time</th><th>Event</th><th>File</th></tr>
{{range .}}<tr><td>{{pkt .Time}}</td><td>{{.What}}{{if .Flags}} ({{.Flags}}){{end}}</td><td class="path">{{.Path}}</td></tr>
{{end}}</table>{{else}}<p>No times recorded for matched files.</p>{{end}}

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

<h2>Custody record</h2>
<table><tr><th>Run</th><th>Started</th><th>Ended</th><th>Status</th><th>Examiner, host, user</th><th>Command line</th></tr>
{{range $i, $r := .Custody.Runs}}<tr><td class="n">{{add1 $i}}</td><td>{{pkt $r.Started}}</td><td>{{pkt $r.Ended}}</td><td>{{$r.Status}}{{if $r.Resumed}} (resumed){{end}}</td>
<td>{{$r.Examiner}}, {{$r.Host}}, {{$r.OSUser}} (pid {{$r.PID}})</td><td class="path">{{join $r.CommandLine " "}}</td></tr>
{{end}}</table>
{{with .Custody.Log}}{{if .Logged}}<p>Custody events in the transparency log {{.Log}}{{if .Origin}} ({{.Origin}}){{end}}: tree size {{.TreeSize}}, root hash <span class="path">{{.RootHash}}</span>, checkpoint {{if .Signed}}signed{{else}}unsigned{{end}}. custody.json carries an inclusion proof for each:</p>
<table><tr><th>Log entry</th><th>Event</th><th>Run</th></tr>
{{range .Entries}}<tr><td class="n">{{.Seq}}</td><td>{{.Action}}</td><td class="n">{{add1 .Run}}</td></tr>
{{end}}</table>{{else}}<p>Not written to a transparency log: {{.Note}}</p>{{end}}{{else}}<p>Not written to a transparency log.</p>{{end}}
<p>The sha256 of manifest.jsonl, manifest.csv, report.html and report.pdf are recorded in custody.json, written after them.</p>
</body>
</html>
`
