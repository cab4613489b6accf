package h2c_test

// The server's side of RFC 7540 §3.2 (h2c by Upgrade), requirement by
// requirement, for what no other test of the package held.

import (
	"bufio"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"golang.org/x/net/http2"

	"github.com/switchyard-http/switchyard/internal/h2ctest"
	"github.com/switchyard-http/switchyard/internal/testkit"
)

// The HTTP2-Settings of the upgrade request are the client's first
// SETTINGS: "a server decodes and interprets these values as it would any
// other SETTINGS frame" (RFC 7540 §3.2.1), and the 101 acknowledges them, so
// they hold from stream 1's response on, before the client's own SETTINGS
// frame (which here changes nothing). With SETTINGS_INITIAL_WINDOW_SIZE 10
// the server sends 10 bytes of stream 1's 100-byte body, and the rest only
// once the client opens the stream's window.
func TestHTTP2SettingsApplyToStream1(t *testing.T) {
	t.Parallel()
	body := strings.Repeat("0123456789", 10)
	n := testkit.NewNegotiator(t, nil)
	srv := testkit.StartServer(t, n.Middleware(register(newH2C(t, nil)))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, body)
	})))
	const window = 10
	settings := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint16(nil, uint16(http2.SettingInitialWindowSize)), window)
	c := testkit.DialTCP(t, testkit.Addr(srv))
	if _, err := io.WriteString(c, "GET /one HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: "+
		base64.RawURLEncoding.EncodeToString(settings)+"\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v, %v; want 101", resp, err)
	}
	if _, err := io.WriteString(c, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(c, br)
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	allowed, got := window, 0
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("after %d bytes of stream 1: %v", got, err)
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				if err := fr.WriteSettingsAck(); err != nil {
					t.Fatal(err)
				}
			}
		case *http2.RSTStreamFrame, *http2.GoAwayFrame:
			t.Fatalf("after %d bytes of stream 1: %v", got, f)
		case *http2.DataFrame:
			if f.StreamID != 1 {
				continue
			}
			got += len(f.Data())
			if got > allowed {
				t.Fatalf("stream 1 sent %d bytes with a window of %d: HTTP2-Settings was not applied", got, allowed)
			}
			if f.StreamEnded() {
				if got != len(body) {
					t.Fatalf("stream 1 ended after %d bytes, want %d", got, len(body))
				}
				return
			}
			if got == allowed {
				if err := fr.WriteWindowUpdate(1, uint32(len(body)-window)); err != nil {
					t.Fatal(err)
				}
				allowed = len(body)
			}
		}
	}
}

// Stream 1 is the upgrade request as an HTTP/2 request, its hop-by-hop
// fields removed (the package doc): those are Connection and the fields it
// names as connection options (RFC 9110 §7.6.1), which apply to the HTTP/1.1
// hop alone, and no HTTP/2 request carries (RFC 9113 §8.2.2). A field the
// client named in Connection does not reach the handler as an end-to-end
// one (which a reverse proxy serving stream 1 would then forward); the
// others do.
func TestStream1DropsConnectionOptions(t *testing.T) {
	t.Parallel()
	n := testkit.NewNegotiator(t, nil)
	srv := testkit.StartServer(t, n.Middleware(register(newH2C(t, nil)))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var seen []string
		for _, k := range []string{"Connection", "Upgrade", "Http2-Settings", "Keep-Alive", "X-Hop", "X-Hop-Too", "X-End"} {
			if v, ok := r.Header[k]; ok {
				seen = append(seen, fmt.Sprintf("%s=%s", k, strings.Join(v, ",")))
			}
		}
		fmt.Fprintf(w, "%s %v", r.Proto, seen)
	})))
	head := h2ctest.RequestHead("GET", "/", "x", "Connection: x-hop", "Connection: KEEP-ALIVE, x-Hop-Too", "Keep-Alive: timeout=5",
		"X-Hop: one", "X-Hop-Too: two", "X-End: kept")
	_, first, err := h2ctest.Upgrade(testkit.DialTCP(t, testkit.Addr(srv)), head, nil)
	if err != nil || first == nil {
		t.Fatalf("upgrade: %v, %v", first, err)
	}
	if got, want := string(first.Body), "HTTP/2.0 [X-End=kept]"; got != want {
		t.Errorf("stream 1 saw %q, want %q", got, want)
	}
}
