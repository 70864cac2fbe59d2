package history

import (
	"fmt"
	"net/netip"
	"net/url"
	"time"
	"unicode/utf8"
)

// Uploader is the context a platform may give with a match request about
// who uploaded the content and how: what a review needs to see the other
// uploads of the same account, and a report to law enforcement needs to
// find the person. It is personal data: stored only sealed (internal/sealed)
// and shown only to the child-safety role, every view logged.
type Uploader struct {
	AccountID  string    `json:"account_id,omitempty"`  // the platform's id of the uploading account
	ScreenName string    `json:"screen_name,omitempty"` // its public name, if any
	IP         string    `json:"ip,omitempty"`          // the uploader's address as the platform saw it
	Port       int       `json:"port,omitempty"`        // source port (needed behind carrier-grade NAT)
	At         time.Time `json:"at,omitzero"`           // when the platform received the upload
	DeviceIDs  []string  `json:"device_ids,omitempty"`  // device identifiers the platform holds
	FileName   string    `json:"file_name,omitempty"`   // the original file name
	ContentURL string    `json:"content_url,omitempty"` // where a reviewer's browser may load a preview (https only)
}

// Limits of an Uploader's fields.
const (
	maxUploaderField = 512
	maxDeviceIDs     = 16
)

// Empty reports whether u carries nothing.
func (u Uploader) Empty() bool {
	return u.AccountID == "" && u.ScreenName == "" && u.IP == "" && u.Port == 0 && u.At.IsZero() &&
		len(u.DeviceIDs) == 0 && u.FileName == "" && u.ContentURL == ""
}

// Check validates u: bounded UTF-8 text without control characters, a
// parseable IP address, a port in 0..65535, at most 16 device ids and an
// https content URL.
func (u Uploader) Check() error {
	fields := []struct{ name, v string }{
		{"account_id", u.AccountID}, {"screen_name", u.ScreenName}, {"file_name", u.FileName}, {"content_url", u.ContentURL},
	}
	for _, d := range u.DeviceIDs {
		fields = append(fields, struct{ name, v string }{"device_ids", d})
	}
	for _, f := range fields {
		if len(f.v) > maxUploaderField || !utf8.ValidString(f.v) {
			return fmt.Errorf("%w: uploader.%s must be valid UTF-8 of at most %d bytes", ErrInvalid, f.name, maxUploaderField)
		}
		for _, r := range f.v {
			if r < 0x20 || r == 0x7f {
				return fmt.Errorf("%w: uploader.%s has a control character", ErrInvalid, f.name)
			}
		}
	}
	if len(u.DeviceIDs) > maxDeviceIDs {
		return fmt.Errorf("%w: uploader.device_ids: at most %d", ErrInvalid, maxDeviceIDs)
	}
	if u.IP != "" {
		if _, err := netip.ParseAddr(u.IP); err != nil {
			return fmt.Errorf("%w: uploader.ip %q is not an IP address", ErrInvalid, u.IP)
		}
	}
	if u.Port < 0 || u.Port > 65535 {
		return fmt.Errorf("%w: uploader.port %d is out of range", ErrInvalid, u.Port)
	}
	if u.ContentURL != "" {
		p, err := url.Parse(u.ContentURL)
		if err != nil || p.Scheme != "https" || p.Host == "" || p.User != nil {
			return fmt.Errorf("%w: uploader.content_url must be an https URL without credentials", ErrInvalid)
		}
	}
	return nil
}
