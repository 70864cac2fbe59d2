package alert

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"time"
)

// fileConfig is the JSON form of Config (serve --alerts FILE).
type fileConfig struct {
	Sender        string    `json:"sender"`
	SenderName    string    `json:"sender_name"`
	Contact       string    `json:"contact"`
	BaseURL       string    `json:"base_url"`
	RadiusKM      float64   `json:"radius_km"`
	Hours         int       `json:"hours"`
	Deadline      string    `json:"deadline"`
	Warnings      []string  `json:"warnings"`
	EscalateEvery string    `json:"escalate_every"`
	Escalation    []Contact `json:"escalation"`
	Partners      []Partner `json:"partners"`
}

// LoadConfig reads the desk's configuration from a JSON file: sender,
// sender_name, contact, base_url, radius_km, hours, deadline, warnings,
// escalate_every (durations as "2h", "90m"), escalation (the chain: name,
// role, url, secret) and partners (name, kind, url, secret). The file holds
// webhook secrets: it must not be readable by group or others.
func LoadConfig(path string) (Config, error) {
	var cfg Config
	fi, err := os.Stat(path)
	if err != nil {
		return cfg, fmt.Errorf("alert config: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return cfg, fmt.Errorf("alert config %s: holds webhook secrets, so it must not be readable by group or others (chmod 600)", path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return cfg, fmt.Errorf("alert config: %w", err)
	}
	var fc fileConfig
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&fc); err != nil {
		return cfg, fmt.Errorf("alert config %s: %w", path, err)
	}
	cfg = Config{Sender: fc.Sender, SenderName: fc.SenderName, Contact: fc.Contact, BaseURL: fc.BaseURL,
		RadiusKM: fc.RadiusKM, Hours: fc.Hours, Escalation: fc.Escalation, Partners: fc.Partners}
	dur := func(name, s string) (time.Duration, error) {
		if s == "" {
			return 0, nil
		}
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			return 0, fmt.Errorf("alert config %s: %s %q is not a positive duration", path, name, s)
		}
		return d, nil
	}
	if cfg.Deadline, err = dur("deadline", fc.Deadline); err != nil {
		return cfg, err
	}
	if cfg.EscalateEvery, err = dur("escalate_every", fc.EscalateEvery); err != nil {
		return cfg, err
	}
	for _, w := range fc.Warnings {
		d, err := dur("warnings", w)
		if err != nil {
			return cfg, err
		}
		cfg.Warnings = append(cfg.Warnings, d)
	}
	if fc.BaseURL != "" {
		if u, err := url.Parse(fc.BaseURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return cfg, fmt.Errorf("alert config %s: base_url %q is not an http(s) URL", path, fc.BaseURL)
		}
	}
	for _, c := range fc.Escalation {
		if c.Name == "" || c.URL == "" || c.Secret == "" {
			return cfg, fmt.Errorf("alert config %s: each escalation contact needs name, url and secret", path)
		}
	}
	for _, p := range fc.Partners {
		if p.Name == "" || p.URL == "" || p.Secret == "" {
			return cfg, fmt.Errorf("alert config %s: each partner needs name, url and secret", path)
		}
	}
	return cfg, nil
}
