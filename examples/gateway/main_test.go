package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	gws "github.com/gorilla/websocket"

	"github.com/switchyard-http/switchyard/internal/testkit"
	"github.com/switchyard-http/switchyard/negotiate"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// backend is what the gateway fronts: echo/1 on any path, a plain gorilla
// WebSocket echo on /ws, a route that requires echo/1 (426) on /need, and
// a page telling what request it got everywhere else.
func backend(t *testing.T) *httptest.Server {
	t.Helper()
	n, err := negotiate.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	reg := new(negotiate.Registry)
	if err := reg.HandleFunc("echo/1", func(c *negotiate.Conn) error {
		_, err := io.Copy(c, c)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s host=%s xff=%s upgrade=%q", r.Method, r.URL.RequestURI(), r.Host,
			r.Header.Get("X-Forwarded-For"), r.Header.Get("Upgrade"))
	})
	up := gws.Upgrader{}
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		for {
			mt, p, err := c.ReadMessage()
			if err != nil {
				return
			}
			if err := c.WriteMessage(mt, p); err != nil {
				return
			}
		}
	})
	mux.Handle("/need", n.Endpoint(reg))
	srv := httptest.NewServer(n.Middleware(reg)(mux))
	t.Cleanup(func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = n.Shutdown(ctx)
	})
	return srv
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startGateway runs the gateway in front of backendURL and returns its
// address and a function that stops it as a signal would, reporting how
// run returned.
func startGateway(t *testing.T, backendURL string) (string, func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := new(syncBuffer)
	done := make(chan error, 1)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	go func() { done <- run(ctx, "127.0.0.1:0", backendURL, out, logger) }()
	var once sync.Once
	var runErr error
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case runErr = <-done:
			case <-time.After(10 * time.Second):
				runErr = fmt.Errorf("run did not return within 10s of the signal")
			}
		})
		return runErr
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("gateway: %v", err)
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		if line, ok := strings.CutPrefix(out.String(), "listening on http://"); ok && strings.HasSuffix(line, "\n") {
			return strings.TrimSpace(line), stop
		}
		if time.Now().After(deadline) {
			t.Fatalf("no listening line; output %q", out.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// request sends raw bytes to addr and reads one response whole.
func request(t *testing.T, addr, req string) (*http.Response, string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

func TestPlainRequestsProxied(t *testing.T) {
	t.Parallel()
	addr, _ := startGateway(t, backend(t).URL)
	resp, body := request(t, addr, "GET /x?y=1 HTTP/1.1\r\nHost: gw.test\r\nX-Forwarded-For: 6.6.6.6\r\nConnection: close\r\n\r\n")
	if want := `GET /x?y=1 host=gw.test xff=127.0.0.1 upgrade=""`; resp.StatusCode != 200 || body != want {
		t.Errorf("got %d %q, want 200 %q", resp.StatusCode, body, want)
	}
}

func TestEchoThroughGateway(t *testing.T) {
	t.Parallel()
	addr, _ := startGateway(t, backend(t).URL)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, resp, err := negotiate.Dial(ctx, "http://"+addr+"/any/path", []string{"echo/1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if got := resp.Header.Get("Upgrade"); got != "echo/1" {
		t.Errorf("Upgrade = %q, want echo/1", got)
	}
	if _, err := io.WriteString(c, "ping through the gateway"); err != nil {
		t.Fatal(err)
	}
	if err := c.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if b, err := io.ReadAll(c); err != nil || string(b) != "ping through the gateway" {
		t.Errorf("echo %q, %v; want the bytes back, then EOF", b, err)
	}
}

func TestWebSocketThroughGateway(t *testing.T) {
	t.Parallel()
	addr, _ := startGateway(t, backend(t).URL)
	d := gws.Dialer{HandshakeTimeout: 10 * time.Second}
	c, resp, err := d.Dial("ws://"+addr+"/ws", nil) // gorilla checks Sec-WebSocket-Accept
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d", resp.StatusCode)
	}
	for _, msg := range []string{"hello", strings.Repeat("big", 100000)} {
		if err := c.WriteMessage(gws.TextMessage, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		mt, p, err := c.ReadMessage()
		if err != nil || mt != gws.TextMessage || string(p) != msg {
			t.Fatalf("echo: type %d, %d bytes, %v; want text, %d bytes", mt, len(p), err, len(msg))
		}
	}
	_ = c.WriteMessage(gws.CloseMessage, gws.FormatCloseMessage(gws.CloseNormalClosure, ""))
}

// The backend's 426 keeps its Upgrade list, which ReverseProxy would drop.
func TestBackend426PassesThrough(t *testing.T) {
	t.Parallel()
	addr, _ := startGateway(t, backend(t).URL)
	resp, body := request(t, addr, "GET /need HTTP/1.1\r\nHost: gw.test\r\n\r\n")
	if resp.StatusCode != http.StatusUpgradeRequired || resp.Header.Get("Upgrade") != "echo/1" ||
		!negotiate.ContainsToken(resp.Header["Connection"], "upgrade") || !strings.Contains(body, "echo/1") {
		t.Errorf("got %d %v %q, want 426 with Upgrade: echo/1 and Connection: Upgrade", resp.StatusCode, resp.Header, body)
	}
	// An upgrade the backend refuses there comes back as it was sent.
	resp, body = request(t, addr, "GET /need HTTP/1.1\r\nHost: gw.test\r\nConnection: Upgrade\r\nUpgrade: chat\r\n\r\n")
	if resp.StatusCode != http.StatusUpgradeRequired || resp.Header.Get("Upgrade") != "echo/1" || !strings.Contains(body, "echo/1") {
		t.Errorf("tunnelled refusal: got %d %v %q, want the backend's 426", resp.StatusCode, resp.Header, body)
	}
}

// An h2c offer is served as plain HTTP/1.1: the backend never sees it.
func TestH2COfferNotForwarded(t *testing.T) {
	t.Parallel()
	addr, _ := startGateway(t, backend(t).URL)
	resp, body := request(t, addr, "GET /h HTTP/1.1\r\nHost: gw.test\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABk\r\n\r\n")
	if want := `GET /h host=gw.test xff=127.0.0.1 upgrade=""`; resp.StatusCode != 200 || body != want {
		t.Errorf("got %d %q, want 200 %q", resp.StatusCode, body, want)
	}
}

// A signal closes open tunnels and run returns nil.
func TestShutdownClosesTunnels(t *testing.T) {
	t.Parallel()
	addr, stop := startGateway(t, backend(t).URL)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := negotiate.Dial(ctx, "http://"+addr, []string{"echo/1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 2)
	if _, err := io.WriteString(c, "hi"); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatal(err)
	}
	if err := stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
	if b, err := io.ReadAll(c); err != nil || len(b) != 0 {
		t.Errorf("after shutdown read %q, %v; want EOF", b, err)
	}
}
