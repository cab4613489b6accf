package negotiate_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"

	"github.com/switchyard-http/switchyard/internal/testkit"
	"github.com/switchyard-http/switchyard/negotiate"
)

// TestRefusalOfABodySentIsNoReset: a client that sends its upgrade
// request's body unasked (no Expect: 100-continue), as Go's http.Client
// does, and is refused (a protocol that takes no body, a 426) reads the
// refusal and then the end of the stream, not a reset. The refusal cut
// the server's read of the body short to close at once, so the socket
// was closed with the body unread, which sends a reset (RFC 9112 §9.6):
// the client read the refusal and then 'connection reset by peer', and
// one still writing its body lost the refusal to 'broken pipe' (a Go
// http.Client POSTing 100-255 KiB failed so in about one run in six),
// where net/http alone reads up to 256 KiB of an unread body before it
// closes.
func TestRefusalOfABodySentIsNoReset(t *testing.T) {
	reg := new(negotiate.Registry)
	reg.HandleFunc("echo/1", testkit.EchoConn)
	_, srv := testkit.Endpoint(t, nil, reg)
	body := strings.Repeat("b", 200<<10) // under net/http's 256 KiB
	for _, tc := range []struct {
		name, offer string
		status      int
	}{
		{"413 on a protocol that takes no body", "Connection: Upgrade\r\nUpgrade: echo/1", http.StatusRequestEntityTooLarge},
		{"426 at an Endpoint", "Connection: keep-alive", http.StatusUpgradeRequired},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn := testkit.DialTCP(t, testkit.Addr(srv))
			req := fmt.Sprintf("POST / HTTP/1.1\r\nHost: example.com\r\n%s\r\nContent-Length: %d\r\n\r\n%s", tc.offer, len(body), body)
			if _, err := io.WriteString(conn, req); err != nil {
				t.Fatalf("writing the request: %v", err)
			}
			wantRefusalThenEnd(t, conn, tc.status)
		})
	}
}

// TestRefusalAfterA100ContinueIsNoReset: a protocol that takes the body
// and refuses once it has read some of it has had net/http send the 100
// Continue, and the client sends the whole body: the refusal is followed
// by the end of the stream, not a reset. The read of the rest ended at
// once for every client that had offered Expect: 100-continue, as if the
// 100 were still due; and, once that was mended, still where Accept had
// wrapped the body (http.MaxBytesReader) before it read: the negotiator
// looked for the read in the request's Body field, which then held the
// protocol's wrapper.
func TestRefusalAfterA100ContinueIsNoReset(t *testing.T) {
	for _, tc := range []struct {
		name   string
		accept func(*negotiate.Switch) error
		status int
	}{
		{"read", func(s *negotiate.Switch) error {
			if _, err := io.ReadFull(s.Request.Body, make([]byte, 10)); err != nil {
				return err
			}
			return negotiate.Refusal(http.StatusConflict, "upload refused")
		}, http.StatusConflict},
		{"wrapped, then read", func(s *negotiate.Switch) error {
			s.Request.Body = http.MaxBytesReader(nil, s.Request.Body, 10)
			if _, err := io.ReadAll(s.Request.Body); err != nil {
				return negotiate.Refusal(http.StatusRequestEntityTooLarge, "upload over 10 bytes")
			}
			return negotiate.Refusal(http.StatusConflict, "upload refused")
		}, http.StatusRequestEntityTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg := new(negotiate.Registry)
			reg.Register("upload/1", negotiate.Protocol{
				TakesBody: true,
				Accept: func(s *negotiate.Switch) (func(*negotiate.Conn) error, error) {
					return nil, tc.accept(s)
				},
			})
			_, srv := testkit.Endpoint(t, nil, reg)
			size := 200 << 10 // under net/http's 256 KiB
			conn := testkit.DialTCP(t, testkit.Addr(srv))
			req := fmt.Sprintf("POST / HTTP/1.1\r\nHost: example.com\r\nConnection: Upgrade\r\nUpgrade: upload/1\r\nExpect: 100-continue\r\nContent-Length: %d\r\n\r\n", size)
			if _, err := io.WriteString(conn, req); err != nil {
				t.Fatal(err)
			}
			br := bufio.NewReader(conn)
			resp, err := http.ReadResponse(br, nil)
			if err != nil || resp.StatusCode != http.StatusContinue {
				t.Fatalf("first response: %v, %v; want 100 Continue", resp, err)
			}
			if _, err := io.WriteString(conn, strings.Repeat("b", size)); err != nil {
				t.Fatalf("writing the body: %v", err)
			}
			wantRefusalThenEnd(t, br, tc.status)
		})
	}
}

// wantRefusalThenEnd reads r to its end and wants a refusal with status
// followed by the end of the stream, not a reset.
func wantRefusalThenEnd(t *testing.T, r io.Reader, status int) {
	t.Helper()
	all, err := io.ReadAll(r)
	if errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("the refusal was followed by a reset (%v), want the end of the stream", err)
	} else if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("HTTP/1.1 %d ", status); !strings.HasPrefix(string(all), want) {
		t.Errorf("got %.60q, want %q", all, want)
	}
}
