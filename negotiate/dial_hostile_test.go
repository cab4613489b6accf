package negotiate_test

import (
	"context"
	"strings"
	"testing"

	"github.com/switchyard-http/switchyard/negotiate"
)

// A hostile server costs Dial a bounded read (issue 12, defect 11): heads
// over Dialer.MaxResponseHeaderBytes (64 KiB by default), interim ones
// included, or more than eight interim responses end the dial at once
// with an error that says so, not at the handshake timeout and not after
// reading all the server sends. Each server sends a bounded amount and
// then waits.
func TestDialBoundsResponseHeads(t *testing.T) {
	t.Parallel()
	final := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: a\r\nConnection: Upgrade\r\n"
	for _, tc := range []struct {
		name, response string
		max            int64
		says           string
	}{
		{"endless header line", final + "X-Endless: " + strings.Repeat("a", 4<<20), 0,
			"negotiate: dial: the server's response heads are over 65536 bytes"},
		{"heads over the Dialer's bound", final + "X-Pad: " + strings.Repeat("p", 2000) + "\r\n\r\n", 1024,
			"negotiate: dial: the server's response heads are over 1024 bytes"},
		{"flood of 100 Continue", strings.Repeat("HTTP/1.1 100 Continue\r\n\r\n", 1000), 0,
			"negotiate: dial: the server sent more than 8 interim (1xx) responses"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := negotiate.Dialer{MaxResponseHeaderBytes: tc.max}
			c, resp, err := d.Dial(context.Background(), rawServer(t, tc.response), []string{"a"}, nil)
			if err == nil {
				c.Close()
				t.Fatal("Dial switched")
			}
			if err.Error() != tc.says || resp != nil {
				t.Errorf("Dial = %v, %v; want no response and %q", resp, err, tc.says)
			}
		})
	}
}
