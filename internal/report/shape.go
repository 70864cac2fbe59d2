package report

import (
	"slices"
	"strings"
	"unicode"
)

// Urdu in the PDF: the PDF library draws glyphs as given, without a text
// shaper, so Urdu is shaped here — each letter replaced by its Arabic
// presentation form (isolated, final, initial, medial) from its neighbours,
// lām-alif joined — and laid out right to left. Noto Naskh Arabic carries
// these forms. This is Naskh, not Nastaliq (which needs a full shaper).

// forms holds isolated, final, initial, medial; right-joining letters have
// only the first two.
var forms = map[rune][]rune{
	0x0628: {0xFE8F, 0xFE90, 0xFE91, 0xFE92}, 0x067E: {0xFB56, 0xFB57, 0xFB58, 0xFB59},
	0x062A: {0xFE95, 0xFE96, 0xFE97, 0xFE98}, 0x0679: {0xFB66, 0xFB67, 0xFB68, 0xFB69},
	0x062B: {0xFE99, 0xFE9A, 0xFE9B, 0xFE9C}, 0x062C: {0xFE9D, 0xFE9E, 0xFE9F, 0xFEA0},
	0x0686: {0xFB7A, 0xFB7B, 0xFB7C, 0xFB7D}, 0x062D: {0xFEA1, 0xFEA2, 0xFEA3, 0xFEA4},
	0x062E: {0xFEA5, 0xFEA6, 0xFEA7, 0xFEA8}, 0x0633: {0xFEB1, 0xFEB2, 0xFEB3, 0xFEB4},
	0x0634: {0xFEB5, 0xFEB6, 0xFEB7, 0xFEB8}, 0x0635: {0xFEB9, 0xFEBA, 0xFEBB, 0xFEBC},
	0x0636: {0xFEBD, 0xFEBE, 0xFEBF, 0xFEC0}, 0x0637: {0xFEC1, 0xFEC2, 0xFEC3, 0xFEC4},
	0x0638: {0xFEC5, 0xFEC6, 0xFEC7, 0xFEC8}, 0x0639: {0xFEC9, 0xFECA, 0xFECB, 0xFECC},
	0x063A: {0xFECD, 0xFECE, 0xFECF, 0xFED0}, 0x0641: {0xFED1, 0xFED2, 0xFED3, 0xFED4},
	0x0642: {0xFED5, 0xFED6, 0xFED7, 0xFED8}, 0x06A9: {0xFB8E, 0xFB8F, 0xFB90, 0xFB91},
	0x0643: {0xFED9, 0xFEDA, 0xFEDB, 0xFEDC}, 0x06AF: {0xFB92, 0xFB93, 0xFB94, 0xFB95},
	0x0644: {0xFEDD, 0xFEDE, 0xFEDF, 0xFEE0}, 0x0645: {0xFEE1, 0xFEE2, 0xFEE3, 0xFEE4},
	0x0646: {0xFEE5, 0xFEE6, 0xFEE7, 0xFEE8}, 0x06C1: {0xFBA6, 0xFBA7, 0xFBA8, 0xFBA9},
	0x06BE: {0xFBAA, 0xFBAB, 0xFBAC, 0xFBAD}, 0x06CC: {0xFBFC, 0xFBFD, 0xFBFE, 0xFBFF},
	0x064A: {0xFEF1, 0xFEF2, 0xFEF3, 0xFEF4}, 0x0626: {0xFE89, 0xFE8A, 0xFE8B, 0xFE8C},
	0x0647: {0xFEE9, 0xFEEA, 0xFEEB, 0xFEEC}, 0x06BA: {0xFB9E, 0xFB9F, 0xFEE7, 0xFEE8},
	// right-joining
	0x0627: {0xFE8D, 0xFE8E}, 0x0622: {0xFE81, 0xFE82}, 0x0623: {0xFE83, 0xFE84},
	0x062F: {0xFEA9, 0xFEAA}, 0x0688: {0xFB88, 0xFB89}, 0x0630: {0xFEAB, 0xFEAC},
	0x0631: {0xFEAD, 0xFEAE}, 0x0691: {0xFB8C, 0xFB8D}, 0x0632: {0xFEAF, 0xFEB0},
	0x0698: {0xFB8A, 0xFB8B}, 0x0648: {0xFEED, 0xFEEE}, 0x0624: {0xFE85, 0xFE86},
	0x06D2: {0xFBAE, 0xFBAF}, 0x06D3: {0xFBB0, 0xFBB1}, 0x0629: {0xFE93, 0xFE94},
}

func isArabic(r rune) bool { return r >= 0x0600 && r <= 0x06FF || r >= 0xFB50 && r <= 0xFEFF }

// hasArabic reports whether s holds Arabic-script letters.
func hasArabic(s string) bool { return strings.IndexFunc(s, isArabic) >= 0 }

// joinsNext reports whether r connects to the letter after it.
func joinsNext(r rune) bool { return len(forms[r]) == 4 }

// shapeWord replaces the letters of logical-order text by their contextual
// presentation forms.
func shapeWord(rs []rune) []rune {
	var out []rune
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		f, ok := forms[r]
		if !ok {
			out = append(out, r)
			continue
		}
		prev := i > 0 && joinsNext(rs[i-1])
		if r == 0x0644 && i+1 < len(rs) && rs[i+1] == 0x0627 { // lām-alif
			if prev {
				out = append(out, 0xFEFC)
			} else {
				out = append(out, 0xFEFB)
			}
			i++
			continue
		}
		next := len(f) == 4 && i+1 < len(rs) && forms[rs[i+1]] != nil
		switch {
		case prev && next:
			out = append(out, f[3])
		case prev:
			out = append(out, f[1])
		case next:
			out = append(out, f[2])
		default:
			out = append(out, f[0])
		}
	}
	return out
}

// visualRTL shapes a right-to-left line and returns it in visual order
// (left to right as drawn): runs of Latin letters and digits keep their
// order, everything else is reversed.
func visualRTL(s string) string {
	rs := shapeWord([]rune(s))
	type run struct {
		ltr bool
		rs  []rune
	}
	var runs []run
	for _, r := range rs {
		ltr := r < 0x0600 && (unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune(".:/-_@+", r) && len(runs) > 0 && runs[len(runs)-1].ltr)
		if len(runs) > 0 && runs[len(runs)-1].ltr == ltr {
			runs[len(runs)-1].rs = append(runs[len(runs)-1].rs, r)
			continue
		}
		runs = append(runs, run{ltr: ltr, rs: []rune{r}})
	}
	var b strings.Builder
	for i := len(runs) - 1; i >= 0; i-- {
		r := runs[i].rs
		if !runs[i].ltr {
			r = slices.Clone(r)
			slices.Reverse(r)
			for j, c := range r { // mirrored pairs
				switch c {
				case '(':
					r[j] = ')'
				case ')':
					r[j] = '('
				}
			}
		}
		b.WriteString(string(r))
	}
	return b.String()
}
