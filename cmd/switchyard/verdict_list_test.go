package main

import (
	"testing"

	"github.com/switchyard-http/switchyard/internal/testkit"
)

// A 101 whose Upgrade names websocket as a list element other than the
// first line's whole value (", websocket", or an empty line before it) is
// a WebSocket switch to every client, and is judged by RFC 6455 as one:
// without Sec-WebSocket-Accept it is invalid, and probe exits 1.
func TestProbeWebSocketUpgradeAsList(t *testing.T) {
	t.Parallel()
	for _, upgradeLines := range []string{
		"Upgrade: , websocket\r\n",
		"Upgrade: \r\nUpgrade: websocket\r\n",
		"Upgrade: WebSocket/13 ,\r\n",
	} {
		url := fakeServer(t, "HTTP/1.1 101 Switching Protocols\r\n"+upgradeLines+"Connection: Upgrade\r\n\r\n")
		code, out, errOut := inspect(t, "", "probe", url)
		if code != 1 {
			t.Errorf("%q: exit %d, want 1; stdout:\n%s\nstderr:\n%s", upgradeLines, code, out, errOut)
		}
		testkit.Contains(t, "stdout", out, "✗ no Sec-WebSocket-Accept (RFC 6455 §4.2.2)")
	}
}
