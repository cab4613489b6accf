package negotiate_test

import (
	"io"
	"net/http"
	"testing"

	"github.com/switchyard-http/switchyard/internal/testkit"
	"github.com/switchyard-http/switchyard/negotiate"
)

// TestTakesBodyClosedByAccept: a protocol that takes the request body and
// closes it in Accept, having read it whole or not (net/http's Close
// discards a small rest), switches, and its serve func reads only what
// followed the body. Closing a body one is done with is the usual idiom;
// the discard of what Accept left read the closed body and refused the
// switch 400 'request body cut short'.
func TestTakesBodyClosedByAccept(t *testing.T) {
	got := make(chan string, 1)
	reg := new(negotiate.Registry)
	reg.Register("upload/1", negotiate.Protocol{
		TakesBody: true,
		Accept: func(s *negotiate.Switch) (func(*negotiate.Conn) error, error) {
			if s.Request.Header.Get("Read-All") != "" {
				if _, err := io.ReadAll(s.Request.Body); err != nil {
					return nil, err
				}
			}
			if err := s.Request.Body.Close(); err != nil {
				return nil, err
			}
			return func(c *negotiate.Conn) error {
				in, err := io.ReadAll(c) // to the client's half-close
				got <- string(in)
				return err
			}, nil
		},
	})
	_, srv := testkit.Endpoint(t, nil, reg)
	for _, tc := range []struct{ name, fields, body, read string }{
		{"read whole, then closed", "Content-Length: 5", "hello", "Read-All: 1"},
		{"chunked, read whole, then closed", "Transfer-Encoding: chunked", "5\r\nhello\r\n0\r\n\r\n", "Read-All: 1"},
		{"closed unread", "Content-Length: 5", "hello", "Read-All:"},
		{"chunked, closed unread", "Transfer-Encoding: chunked", "5\r\nhello\r\n0\r\n\r\n", "Read-All:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := testkit.Raw(t, testkit.Addr(srv), testkit.UpgradeRequest("/", "upload/1", tc.fields, tc.read)+tc.body+"EARLY")
			if x.Resp.StatusCode != http.StatusSwitchingProtocols {
				t.Fatalf("%s %q, want 101", x.Resp.Status, x.Body)
			}
			testkit.CloseWrite(t, x.Conn)
			if in := testkit.Receive(t, got, "what the serve func read"); in != "EARLY" {
				t.Errorf("the serve func read %q, want only what followed the body, %q", in, "EARLY")
			}
			testkit.ExpectClosed(t, x)
		})
	}
}
