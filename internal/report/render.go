package report

import (
	"bytes"
	_ "embed"
	"fmt"
	"html/template"
	"strconv"
	"strings"
	"time"

	"github.com/go-pdf/fpdf"
)

// The human-readable report of a packet, in English and Urdu, as HTML and
// PDF. Both are built from the same rows, so the languages say the same.

//go:embed fonts/NotoSans-Regular.ttf
var fontLatin []byte

//go:embed fonts/NotoNaskhArabic-Regular.ttf
var fontUrdu []byte

// labels in English and Urdu.
var labels = map[string][2]string{
	"title":      {"Report to law enforcement", "قانون نافذ کرنے والے اداروں کے لیے رپورٹ"},
	"hashonly":   {"This packet holds hashes and records only: no image or video is included.", "اس پیکٹ میں صرف ہیش اور ریکارڈ ہیں: کوئی تصویر یا ویڈیو شامل نہیں۔"},
	"case":       {"Case", "کیس"},
	"state":      {"State", "حالت"},
	"opened":     {"Opened", "کھولا گیا"},
	"openedby":   {"Opened by", "کھولنے والا"},
	"approvedby": {"Approved by (second person)", "منظوری دینے والا (دوسرا فرد)"},
	"ncmec":      {"CyberTipline report id", "سائبر ٹپ لائن رپورٹ نمبر"},
	"incident":   {"Incident type", "واقعے کی قسم"},
	"escalate":   {"Escalated", "فوری توجہ طلب"},
	"legal":      {"Legal references", "قانونی حوالہ جات"},
	"fir":        {"FIR", "ایف آئی آر"},
	"agency":     {"Agency", "ادارہ"},
	"sections":   {"Sections", "دفعات"},
	"court":      {"Court", "عدالت"},
	"officer":    {"Officer", "افسر"},
	"subject":    {"Reported person or account", "رپورٹ شدہ فرد یا اکاؤنٹ"},
	"accounts":   {"Account ids", "اکاؤنٹ شناخت"},
	"screen":     {"Screen names", "اسکرین نام"},
	"names":      {"Names", "نام"},
	"emails":     {"Emails", "ای میل"},
	"phones":     {"Phones", "فون نمبر"},
	"ips":        {"IP address, port, time", "آئی پی پتہ، پورٹ، وقت"},
	"devices":    {"Device ids", "ڈیوائس شناخت"},
	"victims":    {"Victims", "متاثرین"},
	"items":      {"Files (by hash)", "فائلیں (ہیش کے ذریعے)"},
	"item":       {"Item", "فائل"},
	"matched":    {"Matched", "مماثلت"},
	"bank":       {"Bank", "بینک"},
	"signal":     {"Matched hash", "مماثل ہیش"},
	"distance":   {"Distance", "فاصلہ"},
	"filename":   {"File name", "فائل کا نام"},
	"uploaded":   {"Uploaded", "اپ لوڈ"},
	"from":       {"From", "سے"},
	"class":      {"Classification", "درجہ بندی"},
	"notes":      {"Reviewer notes", "جائزہ کار کے نوٹس"},
	"preserved":  {"Preserved evidence (encrypted to named recipients)", "محفوظ شدہ شواہد (نامزد وصول کنندگان کے لیے خفیہ)"},
	"custody":    {"Chain of custody (transparency log)", "تحویل کا سلسلہ (شفافیت لاگ)"},
	"seq":        {"Entry", "اندراج"},
	"at":         {"Time (UTC)", "وقت (UTC)"},
	"actor":      {"By", "کنندہ"},
	"action":     {"Act", "عمل"},
	"checkpoint": {"Signed checkpoint", "دستخط شدہ چیک پوائنٹ"},
	"verify":     {"Check this packet offline: nigehban report verify PACKET --vkey LOG.vkey", "اس پیکٹ کی آف لائن تصدیق: nigehban report verify PACKET --vkey LOG.vkey"},
	"generated":  {"Generated", "تیار کردہ"},
	"yes":        {"yes", "ہاں"},
	"no":         {"no", "نہیں"},
}

func lbl(key, lang string) string {
	l := labels[key]
	if lang == "ur" {
		return l[1]
	}
	return l[0]
}

// row is one labelled value of the report.
type row struct{ Label, Value string }

// section is a titled block of rows, or a table.
type section struct {
	Title string
	Rows  []row
	Head  []string
	Table [][]string
}

func ts(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

// sections lays out a packet's report in lang.
func sections(pc PacketCase, cust Custody, lang string) []section {
	L := func(k string) string { return lbl(k, lang) }
	ct := pc.Content
	yn := L("no")
	if ct.Escalate {
		yn = L("yes")
	}
	head := section{Title: L("case") + " " + strconv.FormatInt(pc.Case, 10), Rows: []row{
		{L("state"), string(pc.State)}, {L("opened"), ts(pc.OpenedAt)}, {L("openedby"), pc.OpenedBy},
		{L("approvedby"), pc.ApprovedBy}, {L("incident"), ct.IncidentType}, {L("escalate"), yn},
	}}
	if pc.NCMECReport != 0 {
		head.Rows = append(head.Rows, row{L("ncmec"), strconv.FormatInt(pc.NCMECReport, 10)})
	}
	legal := section{Title: L("legal"), Rows: []row{{L("fir"), ct.Legal.FIR}, {L("agency"), ct.Legal.Agency},
		{L("sections"), strings.Join(ct.Legal.Sections, "; ")}, {L("court"), ct.Legal.Court}, {L("officer"), ct.Legal.Officer}}}
	s := ct.Subject
	var ips []string
	for _, e := range s.IPEvents {
		v := e.IP
		if e.Port != 0 {
			v += " :" + strconv.Itoa(e.Port)
		}
		if !e.At.IsZero() {
			v += " " + ts(e.At)
		}
		if e.Event != "" {
			v += " (" + e.Event + ")"
		}
		ips = append(ips, v)
	}
	subj := section{Title: L("subject"), Rows: []row{{L("accounts"), strings.Join(s.AccountIDs, ", ")},
		{L("screen"), strings.Join(s.ScreenNames, ", ")}, {L("names"), strings.Join(s.Names, ", ")},
		{L("emails"), strings.Join(s.Emails, ", ")}, {L("phones"), strings.Join(s.Phones, ", ")},
		{L("ips"), strings.Join(ips, "; ")}, {L("devices"), strings.Join(s.DeviceIDs, ", ")}}}
	out := []section{head, legal, subj}
	if len(ct.Victims) > 0 {
		v := section{Title: L("victims")}
		for i, vi := range ct.Victims {
			desc := strings.TrimSpace(strings.Join([]string{vi.Name, ageText(vi.Age), vi.AccountID, vi.ScreenName, vi.Notes}, " "))
			v.Rows = append(v.Rows, row{strconv.Itoa(i + 1), desc})
		}
		out = append(out, v)
	}
	items := section{Title: L("items")}
	for i, it := range ct.Items {
		from := it.IP
		if it.Port != 0 {
			from += " :" + strconv.Itoa(it.Port)
		}
		items.Rows = append(items.Rows,
			row{L("item") + " " + strconv.Itoa(i+1), fmt.Sprintf("%s %s (%s, %s %d)", L("matched"), ts(it.MatchedAt), it.Bank, L("distance"), it.Distance)},
			row{L("signal"), it.SignalType + " " + it.SignalValue},
			row{"MD5", it.MD5}, row{"SHA-1", it.SHA1}, row{"SHA-256", it.SHA256}, row{"PDQ", it.PDQ},
			row{L("filename"), it.FileName}, row{L("uploaded"), ts(it.UploadedAt)}, row{L("from"), from},
			row{L("class"), it.Classification})
	}
	out = append(out, items)
	if len(ct.Notes) > 0 {
		n := section{Title: L("notes")}
		for _, no := range ct.Notes {
			n.Rows = append(n.Rows, row{ts(no.At) + " " + no.By, no.Text})
		}
		out = append(out, n)
	}
	if len(pc.Preserved) > 0 {
		p := section{Title: L("preserved")}
		for _, it := range pc.Preserved {
			p.Rows = append(p.Rows, row{strconv.FormatInt(it.ID, 10), fmt.Sprintf("SHA-256 %s, %d bytes, until %s", it.SHA256, it.Size, ts(it.ExpiresAt))})
		}
		out = append(out, p)
	}
	c := section{Title: L("custody"), Head: []string{L("seq"), L("at"), L("actor"), L("action")}}
	for _, e := range cust.Entries {
		c.Table = append(c.Table, []string{strconv.FormatInt(e.Entry.Seq, 10), ts(e.Entry.At), e.Entry.Actor, e.Entry.Action})
	}
	c.Rows = []row{{L("checkpoint"), strings.TrimSpace(cust.Checkpoint)}}
	out = append(out, c)
	// Drop empty rows: a blank line says nothing to a court.
	for i := range out {
		var rows []row
		for _, r := range out[i].Rows {
			if strings.TrimSpace(r.Value) != "" {
				rows = append(rows, r)
			}
		}
		out[i].Rows = rows
	}
	return out
}

func ageText(a int) string {
	if a == 0 {
		return ""
	}
	return "age " + strconv.Itoa(a)
}

var htmlTmpl = template.Must(template.New("report").Parse(`<!DOCTYPE html>
<html lang="{{.Lang}}" dir="{{.Dir}}">
<head><meta charset="utf-8"><title>{{.Title}} — {{.Case}}</title>
<style>
body{font-family:{{if eq .Lang "ur"}}"Noto Nastaliq Urdu","Noto Naskh Arabic",{{end}}"Noto Sans",sans-serif;margin:2em;line-height:1.6}
table{border-collapse:collapse;margin-bottom:1.5em;width:100%}
th,td{border:1px solid #999;padding:.25em .5em;text-align:start;vertical-align:top}
th{background:#eee;width:30%}
.v{font-family:monospace;direction:ltr;unicode-bidi:embed;word-break:break-all}
pre{direction:ltr;text-align:left;white-space:pre-wrap}
</style></head>
<body>
<h1>{{.Title}}</h1>
<p><strong>{{.HashOnly}}</strong></p>
{{range .Sections}}<h2>{{.Title}}</h2>
{{if .Head}}<table><tr>{{range .Head}}<th>{{.}}</th>{{end}}</tr>{{range .Table}}<tr>{{range .}}<td class="v">{{.}}</td>{{end}}</tr>{{end}}</table>{{end}}
{{if .Rows}}<table>{{range .Rows}}<tr><th>{{.Label}}</th><td class="v">{{if eq .Label $.Checkpoint}}<pre>{{.Value}}</pre>{{else}}{{.Value}}{{end}}</td></tr>{{end}}</table>{{end}}
{{end}}
<p>{{.Verify}}</p>
<p>{{.Generated}}: {{.At}}</p>
</body></html>
`))

func renderHTML(pc PacketCase, cust Custody, lang string) ([]byte, error) {
	dir := "ltr"
	if lang == "ur" {
		dir = "rtl"
	}
	var b bytes.Buffer
	err := htmlTmpl.Execute(&b, map[string]any{"Lang": lang, "Dir": dir, "Title": lbl("title", lang), "Case": pc.Case,
		"HashOnly": lbl("hashonly", lang), "Sections": sections(pc, cust, lang), "Verify": lbl("verify", lang),
		"Generated": lbl("generated", lang), "At": ts(pc.Generated), "Checkpoint": lbl("checkpoint", lang)})
	return b.Bytes(), err
}

// renderPDF draws the same report as a PDF with the embedded fonts.
func renderPDF(pc PacketCase, cust Custody, lang string) ([]byte, error) {
	pdf := fpdf.New("P", "mm", "A4", "")
	pdf.SetCreator("nigehban", true)
	pdf.SetTitle(fmt.Sprintf("%s %d", lbl("title", "en"), pc.Case), true)
	// A fixed creation date keeps the PDF a function of the packet.
	pdf.SetCreationDate(pc.Generated)
	pdf.SetModificationDate(pc.Generated)
	pdf.AddUTF8FontFromBytes("latin", "", fontLatin)
	pdf.AddUTF8FontFromBytes("urdu", "", fontUrdu)
	pdf.SetMargins(15, 15, 15)
	pdf.SetAutoPageBreak(true, 15)
	pdf.AddPage()
	rtl := lang == "ur"
	align := "L"
	if rtl {
		align = "R"
	}
	// text draws s with the font its script needs.
	text := func(w, h float64, s string, size float64, border string) {
		if hasArabic(s) {
			drawRTL(pdf, w, h+1.5, s, size, border)
			return
		}
		pdf.SetFont("latin", "", size)
		pdf.MultiCell(w, h, s, border, align, false)
	}
	width := 180.0
	text(width, 8, lbl("title", lang), 16, "")
	text(width, 5, lbl("hashonly", lang), 9, "")
	pdf.Ln(3)
	for _, s := range sections(pc, cust, lang) {
		text(width, 7, s.Title, 12, "B")
		if len(s.Head) > 0 {
			colw := []float64{15, 45, 60, 60}
			line := func(cells []string) {
				pdf.SetFont("latin", "", 8)
				for i, c := range cells {
					x, y := pdf.GetXY()
					if hasArabic(c) {
						drawRTL(pdf, colw[i], 5, c, 8, "1")
					} else {
						pdf.SetFont("latin", "", 8)
						pdf.CellFormat(colw[i], 5, c, "1", 0, "L", false, 0, "")
					}
					pdf.SetXY(x+colw[i], y)
				}
				pdf.Ln(-1)
			}
			line(s.Head)
			for _, r := range s.Table {
				line(r)
			}
		}
		for _, r := range s.Rows {
			text(width, 4.5, r.Label, 9, "")
			pdf.SetFont("latin", "", 8)
			v := r.Value
			if hasArabic(v) {
				text(width, 4.5, v, 9, "")
			} else {
				pdf.SetX(pdf.GetX() + 4)
				pdf.MultiCell(width-4, 4, v, "", "L", false)
			}
		}
		pdf.Ln(2)
	}
	text(width, 5, lbl("verify", lang), 9, "")
	text(width, 5, lbl("generated", lang)+": "+ts(pc.Generated), 9, "")
	var b bytes.Buffer
	if err := pdf.Output(&b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// drawRTL draws a right-to-left line right-aligned in a box of width w,
// each run in the font its script needs (the Urdu face has no Latin
// letters, digits or brackets). A line too long for the box is wrapped
// in the Urdu face alone.
func drawRTL(pdf *fpdf.Fpdf, w, h float64, s string, size float64, border string) {
	v := visualRTL(s)
	type run struct {
		font, text string
	}
	var runs []run
	for _, r := range v {
		font := "latin"
		if isArabic(r) || r == ' ' && len(runs) > 0 && runs[len(runs)-1].font == "urdu" {
			font = "urdu"
		}
		if len(runs) > 0 && runs[len(runs)-1].font == font {
			runs[len(runs)-1].text += string(r)
			continue
		}
		runs = append(runs, run{font, string(r)})
	}
	total := 0.0
	for _, r := range runs {
		pdf.SetFont(r.font, "", size)
		total += pdf.GetStringWidth(r.text)
	}
	x0, y0 := pdf.GetXY()
	if total > w-2 {
		pdf.SetFont("urdu", "", size)
		pdf.MultiCell(w, h, v, border, "R", false)
		return
	}
	if border != "" {
		pdf.CellFormat(w, h, "", border, 0, "", false, 0, "")
	}
	pdf.SetXY(x0+w-1-total, y0)
	for _, r := range runs {
		pdf.SetFont(r.font, "", size)
		pdf.CellFormat(pdf.GetStringWidth(r.text), h, r.text, "", 0, "L", false, 0, "")
	}
	pdf.SetXY(x0, y0+h)
}
