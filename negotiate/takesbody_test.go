package negotiate_test

import (
	"bufio"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-http/switchyard/internal/testkit"
	"github.com/switchyard-http/switchyard/negotiate"
)

// TestTakesBodyLeftUnread: a protocol that takes the request body
// (TakesBody) and reads only part of it, or none, does not get the rest as
// the client's first bytes. The package doc says a request body is never
// left in the stream to be read as protocol data; before, what Accept left
// of it (the body's bytes, a chunked body's framing) was the serve func's
// first reads, ahead of what the client sent behind it. What is left is
// discarded; past 1 MiB the switch is refused with 413.
func TestTakesBodyLeftUnread(t *testing.T) {
	got := make(chan string, 1)
	reg := new(negotiate.Registry)
	reg.Register("upload/1", negotiate.Protocol{
		TakesBody: true,
		Accept: func(s *negotiate.Switch) (func(*negotiate.Conn) error, error) {
			// Read as much of the body as the request's Read-N field says.
			var n int64
			if k := s.Request.Header.Get("Read-N"); k != "" {
				n = int64(len(k))
			}
			read, err := io.ReadAll(io.LimitReader(s.Request.Body, n))
			if err != nil {
				return nil, err
			}
			s.Header.Set("Body-Read", string(read))
			return func(c *negotiate.Conn) error {
				in, err := io.ReadAll(c) // to the client's half-close
				got <- string(in)
				return err
			}, nil
		},
	})
	_, srv := testkit.Endpoint(t, nil, reg)
	for _, tc := range []struct {
		name, fields, body string
		readN, wantRead    string
	}{
		{"none read", "Content-Length: 5", "hello", "", ""},
		{"part read", "Content-Length: 5", "hello", "xx", "he"},
		{"chunked, none read", "Transfer-Encoding: chunked", "5\r\nhello\r\n0\r\n\r\n", "", ""},
		{"chunked, data read but not its end", "Transfer-Encoding: chunked", "5\r\nhello\r\n0\r\n\r\n", "xxxxx", "hello"},
		{"none read, after a 100 Continue", "Content-Length: 5\r\nExpect: 100-continue", "hello", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			head := testkit.UpgradeRequest("/", "upload/1", tc.fields)
			if tc.readN != "" {
				head = testkit.UpgradeRequest("/", "upload/1", tc.fields, "Read-N: "+tc.readN)
			}
			x := testkit.Raw(t, testkit.Addr(srv), head+tc.body+"EARLY")
			if x.Resp.StatusCode != http.StatusSwitchingProtocols {
				t.Fatalf("%s %q, want 101", x.Resp.Status, x.Body)
			}
			if r := x.Resp.Header.Get("Body-Read"); r != tc.wantRead {
				t.Errorf("Accept read %q of the body, want %q", r, tc.wantRead)
			}
			testkit.CloseWrite(t, x.Conn)
			if in := testkit.Receive(t, got, "what the serve func read"); in != "EARLY" {
				t.Errorf("the serve func read %q, want only what followed the body, %q", in, "EARLY")
			}
			testkit.ExpectClosed(t, x)
		})
	}
	t.Run("cut short", func(t *testing.T) {
		c := testkit.DialTCP(t, testkit.Addr(srv))
		if _, err := io.WriteString(c, testkit.UpgradeRequest("/", "upload/1", "Content-Length: 5")+"he"); err != nil {
			t.Fatal(err)
		}
		testkit.CloseWrite(t, c)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s, want 400", resp.Status)
		}
		if in := testkit.Receive(t, got, "the serve func of the switch not made"); in != "" {
			t.Errorf("the serve func of the switch not made read %q", in)
		}
	})
	t.Run("too late", func(t *testing.T) {
		_, srv := testkit.Endpoint(t, &negotiate.Options{HandshakeTimeout: 200 * time.Millisecond}, reg)
		// The rest of the body is declared and never sent: the answer comes
		// within the handshake's bound, before the client's (Timeout).
		x := testkit.Raw(t, testkit.Addr(srv), testkit.UpgradeRequest("/", "upload/1", "Content-Length: 5", "Read-N: xx")+"he")
		if x.Resp.StatusCode != http.StatusRequestTimeout {
			t.Errorf("%s %q, want 408", x.Resp.Status, x.Body)
		}
		if in := testkit.Receive(t, got, "the serve func of the switch not made"); in != "" {
			t.Errorf("the serve func of the switch not made read %q", in)
		}
	})
	t.Run("over 1 MiB left", func(t *testing.T) {
		const size = 1<<20 + 4096
		c := testkit.DialTCP(t, testkit.Addr(srv))
		go func() {
			// The server stops reading at its bound and closes: the end of
			// this write fails, which is no concern of the test's.
			_, _ = io.WriteString(c, testkit.UpgradeRequest("/", "upload/1", "Content-Length: 1052672")+strings.Repeat("x", size))
		}()
		x := testkit.RawOn(t, c, "")
		if x.Resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("%s %q, want 413", x.Resp.Status, x.Body)
		}
		// The serve func still runs, once, on a connection whose reads fail.
		if in := testkit.Receive(t, got, "the serve func of the switch not made"); in != "" {
			t.Errorf("the serve func of the switch not made read %d bytes", len(in))
		}
	})
}
