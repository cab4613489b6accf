// Package wstest is the gorilla side of the WebSocket tests: the client
// that dials a switched endpoint, an echo round trip, the wait for a close
// code, the echo handler the servers under test run and a plain gorilla
// echo server; and, for tests that write raw frames, a client's frame, the
// reading of a server's, and the permessage-deflate form of a message. It sits
// apart from testkit, which uses the standard library and negotiate only.
package wstest

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	gws "github.com/gorilla/websocket"

	"github.com/switchyard-http/switchyard/internal/testkit"
	"github.com/switchyard-http/switchyard/websocket"
)

// URL is the ws:// (or wss://) address of path on the server at base, an
// http:// (or https://) URL.
func URL(base, path string) string { return "ws" + strings.TrimPrefix(base, "http") + path }

// TryDial dials url with d (nil: gorilla's defaults; a handshake without
// a timeout gets testkit.Timeout) and returns the connection, nil if the
// server did not switch, and the server's response, which a refusal's
// test reads. It fails the test only when no HTTP response came back. The
// connection is closed when the test ends and has read and write
// deadlines of testkit.Timeout.
func TryDial(t testing.TB, d *gws.Dialer, url string, h http.Header) (*gws.Conn, *http.Response) {
	t.Helper()
	c, resp, err := dial(d, url, h)
	if c != nil {
		t.Cleanup(func() { c.Close() })
	}
	if resp == nil {
		t.Fatalf("websocket dial %s: %v (no response)", url, err)
	}
	return c, resp
}

// Dial is TryDial for a dial that must switch: it fails the test on
// any error, and returns the 101 as well.
func Dial(t testing.TB, d *gws.Dialer, url string, h http.Header) (*gws.Conn, *http.Response) {
	t.Helper()
	c, resp, err := dial(d, url, h)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("websocket dial %s: %v (status %d)", url, err, status)
	}
	t.Cleanup(func() { c.Close() })
	return c, resp
}

func dial(d *gws.Dialer, url string, h http.Header) (*gws.Conn, *http.Response, error) {
	var dd gws.Dialer
	if d != nil {
		dd = *d
	}
	if dd.HandshakeTimeout == 0 {
		dd.HandshakeTimeout = testkit.Timeout
	}
	c, resp, err := dd.Dial(url, h)
	if c != nil {
		setDeadlines(c)
	}
	return c, resp, err
}

// setDeadlines bounds c's next reads and writes by testkit.Timeout.
func setDeadlines(c *gws.Conn) {
	deadline := time.Now().Add(testkit.Timeout)
	_ = c.SetReadDeadline(deadline)
	_ = c.SetWriteDeadline(deadline)
}

// WantEcho sends msg as a message of type typ and checks that the next
// message is the same, with the same type. The write and the read are
// bounded by testkit.Timeout.
func WantEcho(t testing.TB, c *gws.Conn, typ int, msg []byte) {
	t.Helper()
	setDeadlines(c)
	if err := c.WriteMessage(typ, msg); err != nil {
		t.Fatalf("websocket write: %v", err)
	}
	gotTyp, got, err := c.ReadMessage()
	if err != nil {
		t.Fatalf("websocket read of the echo: %v", err)
	}
	if gotTyp != typ || !bytes.Equal(got, msg) {
		t.Fatalf("websocket echo: got type %d, %d bytes; want type %d, %d bytes", gotTyp, len(got), typ, len(msg))
	}
}

// WantClose reads until the connection ends (gorilla answers the server's
// close frame from inside the read), checks that it ended with a close
// frame carrying code, and closes the connection, as a client does once
// the close frames have crossed.
func WantClose(t testing.TB, c *gws.Conn, code int) {
	t.Helper()
	defer c.Close()
	setDeadlines(c)
	for {
		_, _, err := c.ReadMessage()
		if err == nil {
			continue
		}
		if !gws.IsCloseError(err, code) {
			t.Fatalf("websocket read ended with %v, want close code %d", err, code)
		}
		return
	}
}

// CloseNormally starts a clean close: it sends a close frame with 1000
// and checks that the server answers with 1000.
func CloseNormally(t testing.TB, c *gws.Conn) {
	t.Helper()
	setDeadlines(c)
	if err := c.WriteMessage(gws.CloseMessage, gws.FormatCloseMessage(gws.CloseNormalClosure, "done")); err != nil {
		t.Fatalf("websocket write of the close frame: %v", err)
	}
	WantClose(t, c, gws.CloseNormalClosure)
}

// Echo is a WebSocket handler that sends every message back with its type
// until the connection ends, and returns the error that ended it: a
// *gws.CloseError after the peer's close frame.
func Echo(c *websocket.Conn) error { return echo(c) }

// GorillaEcho is a WebSocket endpoint of gorilla's alone, no Switchyard,
// for a test that needs a plain gorilla server (behind a proxy, or for a
// client to talk to): up (nil: gorilla's defaults) upgrades each request,
// and every message comes back with its type until the peer closes or
// testkit.Timeout has passed.
func GorillaEcho(up *gws.Upgrader) http.Handler {
	if up == nil {
		up = new(gws.Upgrader)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return // gorilla answered the refusal
		}
		defer c.Close()
		_ = c.SetReadDeadline(time.Now().Add(testkit.Timeout))
		_ = echo(c)
	})
}

// echo sends every message c reads back with its type until a read or a
// write fails.
func echo(c interface {
	ReadMessage() (int, []byte, error)
	WriteMessage(int, []byte) error
}) error {
	for {
		typ, msg, err := c.ReadMessage()
		if err != nil {
			return err
		}
		if err := c.WriteMessage(typ, msg); err != nil {
			return err
		}
	}
}
