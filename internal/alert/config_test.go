package alert_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nigehban/nigehban/internal/alert"
)

func TestLoadConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.json", `{"sender":"alerts@zarra.gov.pk","base_url":"https://alerts.zarra.gov.pk","deadline":"2h",
		"warnings":["60m","90m"],"escalate_every":"30m",
		"escalation":[{"name":"sho","role":"station house officer","url":"https://sho.example.org/h","secret":"x"}],
		"partners":[{"name":"tv","kind":"media","url":"https://tv.example.org/h","secret":"y"}]}`, 0o600)
	cfg, err := alert.LoadConfig(good)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Deadline != 2*time.Hour || len(cfg.Warnings) != 2 || cfg.Warnings[1] != 90*time.Minute || cfg.EscalateEvery != 30*time.Minute ||
		cfg.Escalation[0].Role != "station house officer" || cfg.Partners[0].Secret != "y" {
		t.Fatalf("%+v", cfg)
	}
	for _, tc := range []struct {
		name, body string
		mode       os.FileMode
		want       string
	}{
		{"readable by others", `{}`, 0o644, "chmod 600"},
		{"unknown field", `{"sendr":"x"}`, 0o600, "unknown field"},
		{"bad duration", `{"deadline":"two hours"}`, 0o600, "positive duration"},
		{"partner without secret", `{"partners":[{"name":"tv","url":"https://x"}]}`, 0o600, "needs name, url and secret"},
		{"bad base", `{"base_url":"ftp://x"}`, 0o600, "base_url"},
	} {
		_, err := alert.LoadConfig(write(tc.name+".json", tc.body, tc.mode))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}
