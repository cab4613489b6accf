package negotiate_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-http/switchyard/negotiate"
)

// echoConn is the echo/1 protocol: every byte comes back.
func echoConn(c *negotiate.Conn) error {
	_, err := io.Copy(c, c)
	return err
}

// newNegotiator returns a negotiator whose connections are shut down when
// the test ends.
func newNegotiator(t testing.TB, opts *negotiate.Options) *negotiate.Negotiator {
	t.Helper()
	n, err := negotiate.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := n.Shutdown(ctx); err != nil {
			t.Errorf("negotiator shutdown: %v", err)
		}
	})
	return n
}

func newRegistry(t testing.TB, protos map[string]negotiate.Protocol) *negotiate.Registry {
	t.Helper()
	reg := new(negotiate.Registry)
	for _, tok := range slices.Sorted(maps.Keys(protos)) { // a deterministic order
		if err := reg.Register(tok, protos[tok]); err != nil {
			t.Fatal(err)
		}
	}
	return reg
}

func echoRegistry(t testing.TB) *negotiate.Registry {
	return newRegistry(t, map[string]negotiate.Protocol{"echo/1": {Serve: echoConn}})
}

// startServer serves h on loopback and closes it when the test ends.
func startServer(t testing.TB, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// plain answers "plain" so tests see that a request passed through.
var plain = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	_, _ = io.WriteString(w, "plain "+r.Proto)
})

// raw sends request bytes over a new TCP connection and reads one response.
// The body is read whole.
func raw(t testing.TB, srv *httptest.Server, request string) (*http.Response, string, *bufio.Reader, net.Conn) {
	t.Helper()
	resp, body, br, conn, _ := rawWire(t, srv, request)
	return resp, body, br, conn
}

// rawWire is raw that also returns the bytes read so far off the wire, for
// fields http.ReadResponse consumes (Connection).
func rawWire(t testing.TB, srv *httptest.Server, request string) (*http.Response, string, *bufio.Reader, net.Conn, *bytes.Buffer) {
	t.Helper()
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, request); err != nil {
		t.Fatal(err)
	}
	wire := new(bytes.Buffer)
	br := bufio.NewReader(io.TeeReader(conn, wire))
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("reading response: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading body: %v", err)
	}
	return resp, string(body), br, conn, wire
}

// upgradeReq is an upgrade request for path offering tokens, with extra
// header lines.
func upgradeReq(path, tokens string, extra ...string) string {
	s := "GET " + path + " HTTP/1.1\r\nHost: example.com\r\nConnection: Upgrade\r\nUpgrade: " + tokens + "\r\n"
	for _, e := range extra {
		s += e + "\r\n"
	}
	return s + "\r\n"
}

// expectClosed checks that the server closes the connection: the next read
// returns EOF (or a reset) rather than more data.
func expectClosed(t testing.TB, br *bufio.Reader) {
	t.Helper()
	b, err := br.ReadByte()
	if err == nil {
		t.Fatalf("connection still open: read %q", b)
	}
	if !errors.Is(err, io.EOF) && !strings.Contains(err.Error(), "reset") {
		t.Fatalf("connection not closed by the server: %v", err)
	}
}

// dial offers tokens at srv's path and returns the switched connection.
func dial(t testing.TB, srv *httptest.Server, path string, tokens []string, h http.Header) net.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := negotiate.Dial(ctx, srv.URL+path, tokens, h)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// roundTrip writes msg and reads len(msg) bytes back.
func roundTrip(t testing.TB, c net.Conn, msg string) string {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, msg); err != nil {
		t.Fatalf("write: %v", err)
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatalf("read: %v", err)
	}
	return string(buf)
}

// waitFor polls cond until it holds or 10 s pass. It waits for an event
// without asserting how fast it comes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
