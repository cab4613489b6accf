package negotiate_test

import (
	"context"
	"net"
	"testing"

	"github.com/switchyard-http/switchyard/internal/testkit"
	"github.com/switchyard-http/switchyard/negotiate"
)

// A nil *Dialer dials as the zero Dialer does, as a nil gorilla/websocket
// *Dialer does.
func TestNilDialer(t *testing.T) {
	t.Parallel()
	reg := new(negotiate.Registry)
	reg.HandleFunc("echo", testkit.EchoConn)
	_, srv := testkit.Endpoint(t, nil, reg)
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Timeout)
	defer cancel()
	var d *negotiate.Dialer
	var c net.Conn
	msg := panicMessage(func() {
		var err error
		c, _, err = d.Dial(ctx, srv.URL, []string{"echo"}, nil)
		if err != nil {
			t.Errorf("Dial: %v", err)
		}
	})
	if msg != "" {
		t.Fatalf("a nil *Dialer's Dial panicked: %s", msg)
	}
	if c == nil {
		return
	}
	defer c.Close()
	if got := testkit.RoundTrip(t, c, "hi"); got != "hi" {
		t.Errorf("echo = %q", got)
	}
}
