package negotiate_test

// The server's side of RFC 9110 §7.8 and §10.1.1 (Upgrade with Expect),
// requirement by requirement, for what no other test of the package held.

import (
	"strings"
	"testing"

	"github.com/switchyard-http/switchyard/internal/testkit"
)

// "If a server receives both an Upgrade and an Expect header field with
// the 100-continue expectation, the server MUST send a 100 (Continue)
// response before sending a 101" (RFC 9110 §7.8). Expect is a list
// (§10.1.1), and net/http takes 100-continue anywhere in it as the
// expectation (and answers no 417 for the other members): the 100 is due
// then too.
func TestExpectContinueInAListBefore101(t *testing.T) {
	t.Parallel()
	_, srv := testkit.Endpoint(t, nil, echoRegistry())
	for _, expect := range []string{"100-continue, x-other", "x-other, 100-Continue", "100-continue,"} {
		t.Run(expect, func(t *testing.T) {
			t.Parallel()
			x := testkit.Raw(t, testkit.Addr(srv), testkit.UpgradeRequest("/", "echo/1", "Expect: "+expect))
			if !strings.HasPrefix(x.Wire.String(), "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 101 ") || x.Resp.StatusCode != 101 {
				t.Fatalf("responses %q, want 100 Continue, then the 101", x.Wire.String())
			}
			if got := testkit.RoundTrip(t, x, "after"); got != "after" {
				t.Errorf("echo after the switch: %q", got)
			}
		})
	}
}
