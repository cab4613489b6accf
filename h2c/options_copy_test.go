package h2c_test

import (
	"net/netip"
	"testing"

	"github.com/switchyard-http/switchyard/h2c"
	"github.com/switchyard-http/switchyard/internal/h2ctest"
)

// New takes its own copy of Options.TrustedProxies, as websocket.New does
// of Subprotocols: a slice the caller reuses after New (for another
// protocol, another server) changes neither which proxies this protocol
// trusts nor the list it checked.
func TestTrustedProxiesAreCopied(t *testing.T) {
	t.Parallel()
	proxies := []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}
	s := serve(t, &h2c.Options{TrustedProxies: proxies})
	proxies[0] = netip.MustParsePrefix("127.0.0.0/8") // the loopback client

	c, first, err := h2ctest.Upgrade(dialRaw(t, s.srv), h2ctest.RequestHead("GET", "/", "x", "Via: 1.1 proxy"), nil)
	if err != nil || first != nil {
		t.Fatalf("upgraded through a proxy New was not told to trust (%v)", err)
	}
	c.Upgrade.Body.Close()
	if c.Upgrade.StatusCode != 200 {
		t.Errorf("%s, want served as HTTP/1.1", c.Upgrade.Status)
	}
}
