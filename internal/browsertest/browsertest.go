// Package browsertest starts the headless Chromium that browser tests drive
// (internal/protect, internal/console): Debian's chromium-headless-shell,
// installed by scripts/setup, or the binary NIGEHBAN_CHROMIUM names.
// Browser tests are skipped by -short; without a browser they skip, except
// with CI=true, where they fail.
package browsertest

import (
	"context"
	"os"
	"os/exec"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/nigehban/nigehban/internal/testtool"
)

// Chromium returns the browser to test with, or skips (fails under
// CI=true) when there is none or -short is set.
func Chromium(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("browser test: skipped with -short")
	}
	for _, p := range []string{os.Getenv("NIGEHBAN_CHROMIUM"), "/usr/bin/chromium-headless-shell", "chromium-headless-shell", "chromium"} {
		if p == "" {
			continue
		}
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	testtool.Missing(t, "no headless Chromium (install chromium-headless-shell: scripts/setup)")
	return ""
}

// Start launches the browser at bin with a fresh profile and returns the
// context of its first tab; it is closed when the test ends.
func Start(t testing.TB, bin string) context.Context {
	t.Helper()
	alloc, cancel := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(bin),
		chromedp.Headless,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		// Pages under test load from test HTTPS servers with their own
		// certificates (review previews).
		chromedp.Flag("ignore-certificate-errors", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	t.Cleanup(cancel)
	browser, cancelBrowser := chromedp.NewContext(alloc)
	t.Cleanup(cancelBrowser)
	if err := chromedp.Do(browser, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	return browser
}
