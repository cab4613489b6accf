package negotiate_test

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-http/switchyard/internal/testkit"
	"github.com/switchyard-http/switchyard/negotiate"
)

// closingProtocol takes the request body and closes it in Accept without
// reading it, ignoring what Close returns, as a protocol does with a body
// it does not need (defer r.Body.Close()); its serve func reads the
// connection to the client's half-close and sends what it read on got.
func closingProtocol(got chan<- string) negotiate.Protocol {
	return negotiate.Protocol{
		TakesBody: true,
		Accept: func(s *negotiate.Switch) (func(*negotiate.Conn) error, error) {
			_ = s.Request.Body.Close()
			return func(c *negotiate.Conn) error {
				in, err := io.ReadAll(c)
				got <- string(in)
				return err
			}, nil
		},
	}
}

// TestTakesBodyClosedUnreadIsNeverProtocolData: a body that Accept closes
// unread is still the negotiator's to discard before the switch, however
// long it is and whether or not the client waits for a 100 Continue.
// net/http's Close gives up on a rest over 256 KiB (Content-Length) or
// stops after 256 KiB (chunked), and never sends the 100 Continue a client
// waits for before it sends the body: the serve func then read the body
// as protocol data, or the switch waited for the handshake's timeout and
// was made with the body still to come.
func TestTakesBodyClosedUnreadIsNeverProtocolData(t *testing.T) {
	got := make(chan string, 4) // the last case's serve func runs unswitched
	reg := new(negotiate.Registry)
	reg.Register("upload/1", closingProtocol(got))
	_, srv := testkit.Endpoint(t, &negotiate.Options{HandshakeTimeout: 5 * time.Second}, reg)
	big := strings.Repeat("b", 300<<10) // over net/http's 256 KiB
	for _, tc := range []struct{ name, fields, body string }{
		{"Content-Length over 256 KiB", fmt.Sprintf("Content-Length: %d", len(big)), big},
		{"chunked over 256 KiB", "Transfer-Encoding: chunked", fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(big), big)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := strings.Replace(testkit.UpgradeRequest("/", "upload/1", tc.fields), "GET", "POST", 1)
			x := testkit.Raw(t, testkit.Addr(srv), req+tc.body+"EARLY")
			if x.Resp.StatusCode != http.StatusSwitchingProtocols {
				t.Fatalf("%s %q, want 101", x.Resp.Status, x.Body)
			}
			testkit.CloseWrite(t, x.Conn)
			if in := testkit.Receive(t, got, "what the serve func read"); in != "EARLY" {
				t.Errorf("the serve func read %d bytes (%.20q...), want only what followed the body, %q", len(in), in, "EARLY")
			}
			testkit.ExpectClosed(t, x)
		})
	}

	t.Run("Expect 100-continue", func(t *testing.T) {
		// The client sends the body only once it has the 100 Continue
		// (RFC 9110 §10.1.1), which must come before the 101.
		conn := testkit.DialTCP(t, testkit.Addr(srv))
		req := strings.Replace(testkit.UpgradeRequest("/", "upload/1", "Content-Length: 5", "Expect: 100-continue"), "GET", "POST", 1)
		if _, err := io.WriteString(conn, req); err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(conn)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("reading the first response: %v", err)
		}
		if resp.StatusCode != http.StatusContinue {
			t.Fatalf("first response %s, want 100 Continue before the body is sent", resp.Status)
		}
		if _, err := io.WriteString(conn, "helloEARLY"); err != nil {
			t.Fatal(err)
		}
		if resp, err = http.ReadResponse(br, nil); err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("after the body: %v, %v; want 101", resp, err)
		}
		testkit.CloseWrite(t, conn)
		if in := testkit.Receive(t, got, "what the serve func read"); in != "EARLY" {
			t.Errorf("the serve func read %q, want only what followed the body, %q", in, "EARLY")
		}
	})

	t.Run("body not sent in time", func(t *testing.T) {
		// A body that has not come when the handshake's time is up is
		// a 408, as with a protocol that reads it: switched, it would be
		// read as protocol data once it came.
		_, srv := testkit.Endpoint(t, &negotiate.Options{HandshakeTimeout: 300 * time.Millisecond}, reg)
		req := strings.Replace(testkit.UpgradeRequest("/", "upload/1", "Content-Length: 5"), "GET", "POST", 1)
		x := testkit.Raw(t, testkit.Addr(srv), req)
		if x.Resp.StatusCode != http.StatusRequestTimeout {
			t.Fatalf("%s %q, want 408", x.Resp.Status, x.Body)
		}
	})
}

// TestTakesBodyClosedUnreadOverMaxBytesHandler: behind an
// http.MaxBytesHandler, a body over its limit that Accept closes unread is
// refused 413 naming the limit, as h2c refuses one it reads itself: the
// client cut nothing short.
func TestTakesBodyClosedUnreadOverMaxBytesHandler(t *testing.T) {
	got := make(chan string, 1) // the serve func runs unswitched
	reg := new(negotiate.Registry)
	reg.Register("upload/1", closingProtocol(got))
	n := testkit.NewNegotiator(t, nil)
	srv := testkit.StartServer(t, http.MaxBytesHandler(n.Endpoint(reg), 1024))
	body := strings.Repeat("b", 10<<10)
	req := strings.Replace(testkit.UpgradeRequest("/", "upload/1", fmt.Sprintf("Content-Length: %d", len(body))), "GET", "POST", 1)
	x := testkit.Raw(t, testkit.Addr(srv), req+body)
	if x.Resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(x.Body, "1024 bytes") {
		t.Fatalf("%s %q, want 413 naming the handler's limit, 1024 bytes", x.Resp.Status, x.Body)
	}
	testkit.ExpectClosed(t, x)
}
