package interop_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestChromium: headless Chromium's own WebSocket, from a page served by the
// same server (so Origin is same-origin). Chromium always offers
// permessage-deflate.
func TestChromium(t *testing.T) {
	t.Parallel()
	browser := chromium(t)
	s := newEchoServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()

	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(browser),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox, // root in CI containers
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(allocCtx, chromedp.WithLogf(t.Logf))
	defer cancelBrowser()

	if err := chromedp.Do(bctx, chromedp.Navigate(s.URL+"/")); err != nil {
		t.Fatalf("chromium (%s): navigate: %v", browser, err)
	}
	raw, err := chromedp.Run(bctx, chromedp.Poll[string](`window.interop`, chromedp.WithPollingTimeout(30*time.Second)))
	if err != nil {
		t.Fatalf("chromium (%s): %v", browser, err)
	}
	var r peerReport
	if err := json.Unmarshal([]byte(raw), &r); err != nil {
		t.Fatalf("page report %q: %v", raw, err)
	}
	if r.Error != "" {
		t.Fatalf("page: %s", r.Error)
	}
	checkExtensions(t, r.Extensions, true)
	checkEchoes(t, r)
	if got, want := r.CloseCode, 1000; got != want || !r.WasClean {
		t.Errorf("browser saw close code %d (clean %v), want %d, clean", got, r.WasClean, want)
	}
	s.wantServerClose(ctx, t)

	// Close the browser now, and wait for it, so that its process and
	// chromedp's goroutines are gone before the leak check.
	if err := chromedp.Cancel(bctx); err != nil {
		t.Logf("closing chromium: %v", err)
	}
}
