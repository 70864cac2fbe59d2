// Package cybertip builds NCMEC CyberTipline reports and sends them through
// the reporting API (submit, upload, fileinfo, finish, retract).
//
// The XML is built from typed structures whose fields follow the element
// order of the schema NCMEC serves at /xsd (cyber_tipline.xsd, "ESP incident
// reporting format"): encoding/xml writes fields in declaration order, so
// the order is fixed by the types. Check walks any report's XML against the
// same types before it is sent and refuses, naming the element, a missing
// required element, an unknown one or one out of order — what makes
// reports bounce (ROOST's coop issues). The tests validate every report
// they generate against the XSD with xmllint.
//
// Only the part of the schema a platform's hash-match report needs is
// typed; an element the types do not know is refused by Check rather than
// sent unchecked.
package cybertip

import (
	"encoding/xml"
	"time"
)

// Incident types (the schema's incidentType enumeration) a hash-match
// report uses.
const (
	IncidentChildPornography = "Child Pornography (possession, manufacture, and distribution)"
	IncidentEnticement       = "Online Enticement of Children for Sexual Acts"
	IncidentUnsolicited      = "Unsolicited Obscene Material Sent to a Child"
)

// IncidentTypes is the schema's incidentType enumeration.
var IncidentTypes = []string{
	IncidentChildPornography,
	"Child Sex Trafficking",
	"Child Sex Tourism",
	"Child Sexual Molestation",
	"Misleading Domain Name",
	"Misleading Words or Digital Images on the Internet",
	IncidentEnticement,
	IncidentUnsolicited,
}

// Report is the <report> element. Fields marked `ct:"required"` have
// minOccurs 1 in the schema.
type Report struct {
	XMLName         xml.Name               `xml:"report"`
	IncidentSummary IncidentSummary        `xml:"incidentSummary" ct:"required"`
	InternetDetails []InternetDetails      `xml:"internetDetails"`
	LawEnforcement  *LawEnforcement        `xml:"lawEnforcement"`
	Reporter        Reporter               `xml:"reporter" ct:"required"`
	Reported        []PersonOrUserReported `xml:"personOrUserReported"`
	Victims         []Victim               `xml:"victim"`
	AdditionalInfo  string                 `xml:"additionalInfo,omitempty"`
}

// IncidentSummary is <incidentSummary>.
type IncidentSummary struct {
	IncidentType           string       `xml:"incidentType" ct:"required,enum=incidentType"`
	Platform               string       `xml:"platform,omitempty"`
	EscalateToHighPriority string       `xml:"escalateToHighPriority,omitempty"`
	ReportAnnotations      *Annotations `xml:"reportAnnotations"`
	IncidentDateTime       DateTime     `xml:"incidentDateTime" ct:"required"`
	IncidentDateTimeDesc   string       `xml:"incidentDateTimeDescription,omitempty"`
}

// Annotations is <reportAnnotations> (each present element is "true").
type Annotations struct {
	Sextortion                 *bool `xml:"sextortion"`
	CSAMSolicitation           *bool `xml:"csamSolicitation"`
	MinorToMinorInteraction    *bool `xml:"minorToMinorInteraction"`
	Spam                       *bool `xml:"spam"`
	SadisticOnlineExploitation *bool `xml:"sadisticOnlineExploitation"`
}

// InternetDetails is <internetDetails>: exactly one incident kind.
type InternetDetails struct {
	WebPage *WebPageIncident `xml:"webPageIncident" ct:"choice"`
	Email   *EmailIncident   `xml:"emailIncident" ct:"choice"`
}

// WebPageIncident is <webPageIncident>.
type WebPageIncident struct {
	ThirdPartyHostedContent *bool    `xml:"thirdPartyHostedContent,attr,omitempty"`
	URLs                    []string `xml:"url"`
	AdditionalInfo          string   `xml:"additionalInfo,omitempty"`
}

// EmailIncident is <emailIncident>.
type EmailIncident struct {
	EmailAddresses []Email `xml:"emailAddress"`
	Content        string  `xml:"content,omitempty"`
	AdditionalInfo string  `xml:"additionalInfo,omitempty"`
}

// LawEnforcement is <lawEnforcement>.
type LawEnforcement struct {
	AgencyName string `xml:"agencyName" ct:"required"`
	CaseNumber string `xml:"caseNumber,omitempty"`
}

// Reporter is <reporter>.
type Reporter struct {
	ReportingPerson Person         `xml:"reportingPerson" ct:"required"`
	ContactPerson   *ContactPerson `xml:"contactPerson"`
	CompanyTemplate string         `xml:"companyTemplate,omitempty"`
	TermsOfService  string         `xml:"termsOfService,omitempty"`
	LegalURL        string         `xml:"legalURL,omitempty"`
}

// Person is the schema's person type.
type Person struct {
	FirstName   string    `xml:"firstName,omitempty"`
	LastName    string    `xml:"lastName,omitempty"`
	Phones      []Phone   `xml:"phone"`
	Emails      []Email   `xml:"email"`
	Addresses   []Address `xml:"address"`
	Age         int       `xml:"age,omitempty"`
	DateOfBirth string    `xml:"dateOfBirth,omitempty"` // YYYY-MM-DD
}

// ContactPerson is the schema's contactPerson type.
type ContactPerson struct {
	FirstName string    `xml:"firstName,omitempty"`
	LastName  string    `xml:"lastName,omitempty"`
	Phones    []Phone   `xml:"phone"`
	Emails    []Email   `xml:"email"`
	Addresses []Address `xml:"address"`
}

// Email is the schema's email type.
type Email struct {
	Type     string `xml:"type,attr,omitempty" ct:"enum=emailType"`
	Verified *bool  `xml:"verified,attr,omitempty"`
	Value    string `xml:",chardata"`
}

// Phone is the schema's phone type.
type Phone struct {
	Type               string `xml:"type,attr,omitempty" ct:"enum=phoneType"`
	Verified           *bool  `xml:"verified,attr,omitempty"`
	CountryCallingCode string `xml:"countryCallingCode,attr,omitempty"`
	Value              string `xml:",chardata"`
}

// Address is the schema's address type.
type Address struct {
	Type    string `xml:"type,attr,omitempty" ct:"enum=addressType"`
	Address string `xml:"address,omitempty"`
	City    string `xml:"city,omitempty"`
	ZipCode string `xml:"zipCode,omitempty"`
	NonUSA  string `xml:"nonUsaState,omitempty"`
	Country string `xml:"country,omitempty"` // ISO 3166-1 alpha-2
}

// PersonOrUserReported is <personOrUserReported>: the reported account.
type PersonOrUserReported struct {
	Person          *Person          `xml:"personOrUserReportedPerson"`
	ESPIdentifier   string           `xml:"espIdentifier,omitempty"`
	ESPService      string           `xml:"espService,omitempty"`
	ScreenName      string           `xml:"screenName,omitempty"`
	DisplayNames    []string         `xml:"displayName"`
	ProfileURLs     []string         `xml:"profileUrl"`
	IPCaptureEvents []IPCaptureEvent `xml:"ipCaptureEvent"`
	DeviceIDs       []DeviceID       `xml:"deviceId"`
	PriorCTReports  []int64          `xml:"priorCTReports"`
	AdditionalInfo  string           `xml:"additionalInfo,omitempty"`
}

// Victim is <victim>.
type Victim struct {
	Person         Person   `xml:"victimPerson" ct:"required"`
	ESPIdentifier  string   `xml:"espIdentifier,omitempty"`
	ESPService     string   `xml:"espService,omitempty"`
	ScreenName     string   `xml:"screenName,omitempty"`
	DisplayNames   []string `xml:"displayName"`
	SchoolName     string   `xml:"schoolName,omitempty"`
	AdditionalInfo string   `xml:"additionalInfo,omitempty"`
}

// IPCaptureEvent is the schema's ipCaptureEvent type.
type IPCaptureEvent struct {
	IPAddress     string    `xml:"ipAddress" ct:"required"`
	EventName     string    `xml:"eventName,omitempty" ct:"enum=ipCaptureType"`
	DateTime      *DateTime `xml:"dateTime"`
	PossibleProxy *bool     `xml:"possibleProxy"`
	Port          int       `xml:"port,omitempty"`
}

// DeviceID is the schema's deviceId type.
type DeviceID struct {
	IDType    string    `xml:"idType" ct:"required"`
	IDValue   string    `xml:"idValue" ct:"required"`
	EventName string    `xml:"eventName,omitempty" ct:"enum=ipCaptureType"`
	DateTime  *DateTime `xml:"dateTime"`
}

// FileDetails is <fileDetails>, the body of /fileinfo.
type FileDetails struct {
	XMLName                xml.Name        `xml:"fileDetails"`
	ReportID               int64           `xml:"reportId" ct:"required"`
	FileID                 string          `xml:"fileId" ct:"required"`
	FileName               string          `xml:"fileName,omitempty"`
	OriginalFileName       string          `xml:"originalFileName,omitempty"`
	UploadedToESPTimestamp *DateTime       `xml:"uploadedToEspTimestamp"`
	LocationOfFile         string          `xml:"locationOfFile,omitempty"`
	FileViewedByESP        *bool           `xml:"fileViewedByEsp"`
	EXIFViewedByESP        *bool           `xml:"exifViewedByEsp"`
	PubliclyAvailable      *bool           `xml:"publiclyAvailable"`
	FileRelevance          string          `xml:"fileRelevance,omitempty" ct:"enum=fileRelevance"`
	PotentialMeme          *bool           `xml:"potentialMeme"`
	IndustryClassification string          `xml:"industryClassification,omitempty" ct:"enum=fileClassification"`
	OriginalFileHashes     []Hash          `xml:"originalFileHash"`
	IPCaptureEvent         *IPCaptureEvent `xml:"ipCaptureEvent"`
	DeviceIDs              []DeviceID      `xml:"deviceId"`
	Details                []Details       `xml:"details"`
	AdditionalInfo         []string        `xml:"additionalInfo"`
}

// Hash is the schema's hash type: a value and its hashType.
type Hash struct {
	HashType string `xml:"hashType,attr" ct:"required"`
	Value    string `xml:",chardata"`
}

// Details is <details>: name/value pairs of a metadata type.
type Details struct {
	Type  string      `xml:"type,attr,omitempty" ct:"enum=metadataTypes"`
	Pairs []NameValue `xml:"nameValuePair"`
}

// NameValue is the schema's nameValue type.
type NameValue struct {
	Name  string `xml:"name" ct:"required"`
	Value string `xml:"value" ct:"required"`
}

// Response is <reportResponse>, the answer of submit, upload, fileinfo and
// retract.
type Response struct {
	XMLName             xml.Name `xml:"reportResponse"`
	ResponseCode        int      `xml:"responseCode"`
	ResponseDescription string   `xml:"responseDescription"`
	ReportID            int64    `xml:"reportId,omitempty"`
	FileID              string   `xml:"fileId,omitempty"`
	Hash                string   `xml:"hash,omitempty"`
}

// DoneResponse is <reportDoneResponse>, the answer of finish.
type DoneResponse struct {
	XMLName      xml.Name `xml:"reportDoneResponse"`
	ResponseCode int      `xml:"responseCode"`
	ReportID     int64    `xml:"reportId"`
	FileIDs      []string `xml:"files>fileId"`
}

// DateTime is an xs:dateTime, written in UTC as RFC 3339.
type DateTime struct{ time.Time }

// At returns t as a *DateTime (nil for the zero time).
func At(t time.Time) *DateTime {
	if t.IsZero() {
		return nil
	}
	return &DateTime{t}
}

// MarshalText implements encoding.TextMarshaler.
func (d DateTime) MarshalText() ([]byte, error) {
	if d.IsZero() {
		return nil, nil
	}
	return []byte(d.UTC().Format(time.RFC3339)), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *DateTime) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		d.Time = time.Time{}
		return nil
	}
	t, err := time.Parse(time.RFC3339, string(b))
	d.Time = t
	return err
}

// True returns a pointer to true, for the schema's optional booleans.
func True() *bool { t := true; return &t }
