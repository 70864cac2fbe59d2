package registry

import (
	"fmt"
	"strings"
)

// Term is one value of a coded field: a stable code (stored), a machine
// name (API, CSV) and a title (pages, published tables). Code 0 is
// "unknown" in every vocabulary and is never listed.
type Term struct {
	Code  int    `json:"code"`
	Name  string `json:"name"`
	Title string `json:"title"`
}

// Vocab is a coded field's list of terms. Codes are stored in the
// database: a vocabulary only grows, and a code is never reused.
type Vocab struct {
	Field string
	Terms []Term
}

// Code returns the code of name (a machine name or a title, any case);
// "" and "unknown" are 0. It fails with ErrInvalid for anything else.
func (v *Vocab) Code(name string) (int, error) {
	n := strings.TrimSpace(name)
	if n == "" || strings.EqualFold(n, "unknown") {
		return 0, nil
	}
	for _, t := range v.Terms {
		if strings.EqualFold(n, t.Name) || strings.EqualFold(n, t.Title) {
			return t.Code, nil
		}
	}
	return 0, fmt.Errorf("%w: %s %q is not one of %s", ErrInvalid, v.Field, name, v.names())
}

// Name returns the machine name of code ("unknown" for 0 or a code not in
// the vocabulary).
func (v *Vocab) Name(code int) string {
	for _, t := range v.Terms {
		if t.Code == code {
			return t.Name
		}
	}
	return "unknown"
}

// Title returns the title of code ("Unknown" for 0).
func (v *Vocab) Title(code int) string {
	for _, t := range v.Terms {
		if t.Code == code {
			return t.Title
		}
	}
	return "Unknown"
}

func (v *Vocab) names() string {
	s := make([]string, len(v.Terms))
	for i, t := range v.Terms {
		s[i] = t.Name
	}
	return strings.Join(s, ", ")
}

func vocab(field string, titles ...string) *Vocab {
	v := &Vocab{Field: field}
	for i, t := range titles {
		name := strings.NewReplacer(" ", "_", "/", "_", "-", "_", "'", "").Replace(strings.ToLower(t))
		v.Terms = append(v.Terms, Term{Code: i + 1, Name: name, Title: t})
	}
	return v
}

// The coded fields of incidents and cases, comparable with the tables of
// Sahil's "Cruel Numbers" reports (crime category, victim's sex and age
// band, relationship of the abuser, place, urban/rural, police status)
// plus what newspaper counts cannot see (stage and outcome). Append only.
var (
	Categories = vocab("category", "Abduction", "Missing", "Sodomy", "Rape", "Attempted sodomy", "Attempted rape",
		"Gang sodomy", "Gang rape", "Abuse imagery", "Incest", "Murder after abuse", "Child marriage", "Other")
	Sexes         = vocab("sex", "Girl", "Boy", "Other")
	AgeBands      = vocab("age_band", "0-5", "6-10", "11-15", "16-18")
	Relationships = vocab("relationship", "Acquaintance", "Stranger", "Relative", "Neighbour", "Family member",
		"Teacher", "Religious teacher", "Employer", "Friend", "Police", "Other")
	Places = vocab("place", "Victim's home", "Abuser's home", "Acquaintance's place", "Open field", "Street",
		"School", "Madrassa", "Workplace", "Online", "Other")
	Areas          = vocab("area", "Urban", "Rural")
	PoliceStatuses = vocab("police_status", "Registered", "Not registered", "Refused", "Under investigation")
	Stages         = vocab("stage", "Reported", "FIR", "Investigation", "Charge sheet", "Trial", "Verdict", "Closed")
	Outcomes       = vocab("outcome", "Conviction", "Acquittal", "Compromise", "Dismissed", "Pending")
)

// OutcomeConviction is the code of a conviction (the funnel's last step).
const OutcomeConviction = 1
