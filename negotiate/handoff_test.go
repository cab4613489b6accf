package negotiate_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/switchyard-http/switchyard/negotiate"
)

// engineConn is what a split engine's Handshake leaves for its Serve.
type engineConn struct {
	bw *bufio.Writer
}

// splitEngine writes its own 101 in Handshake and serves in Serve, the
// shape of the websocket protocol: Serve echoes through the engine's
// writer, Shutdown says goodbye and waits for the peer.
func splitEngine(shutdowns chan<- *engineConn) negotiate.Protocol {
	return negotiate.Protocol{
		Handshake: func(w http.ResponseWriter, r *http.Request) error {
			nc, brw, err := w.(http.Hijacker).Hijack()
			if err != nil {
				return err
			}
			if _, err := io.WriteString(nc, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: split\r\nConnection: Upgrade\r\n\r\n"); err != nil {
				return err
			}
			nc.(*negotiate.Conn).SetEngine(&engineConn{bw: brw.Writer})
			return nil
		},
		Serve: func(c *negotiate.Conn) error {
			e := c.Engine().(*engineConn)
			buf := make([]byte, 64)
			for {
				k, err := c.Read(buf)
				if err != nil {
					return err
				}
				if _, err := e.bw.Write(buf[:k]); err != nil {
					return err
				}
				if err := e.bw.Flush(); err != nil {
					return err
				}
			}
		},
		Shutdown: func(c *negotiate.Conn) {
			e, _ := c.Engine().(*engineConn)
			if e != nil {
				_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
				_, _ = io.WriteString(c, "bye")
			}
			_ = c.CloseWrite()
			shutdowns <- e
			<-c.Done()
		},
	}
}

// A Handshake engine with a Serve: the request's handler returns once the
// 101 is written, the connection is served in its own goroutine with what
// Handshake left on it, early bytes included, and the protocol's Shutdown
// runs at the negotiator's shutdown; Done is closed when Serve returns.
func TestHandshakeThenServe(t *testing.T) {
	t.Parallel()
	n, err := negotiate.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	shutdowns := make(chan *engineConn, 1)
	reg := newRegistry(t, map[string]negotiate.Protocol{"split": splitEngine(shutdowns)})
	returned := make(chan struct{}, 1)
	srv := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Endpoint(reg).ServeHTTP(w, r)
		returned <- struct{}{}
	}))
	resp, _, br, conn := raw(t, srv, upgradeReq("/", "split")+"early")
	if resp.StatusCode != 101 {
		t.Fatalf("status %d, want 101", resp.StatusCode)
	}
	// The handler has returned while the connection is live.
	<-returned
	got := make([]byte, len("early"))
	if _, err := io.ReadFull(br, got); err != nil || string(got) != "early" {
		t.Fatalf("early bytes came back as %q, %v", got, err)
	}
	if _, err := io.WriteString(conn, "later"); err != nil {
		t.Fatal(err)
	}
	got = make([]byte, len("later"))
	if _, err := io.ReadFull(br, got); err != nil || string(got) != "later" {
		t.Fatalf("echo after the switch: %q, %v", got, err)
	}
	if s := n.Stats(); s.Active["split"] != 1 {
		t.Fatalf("active = %v, want split: 1", s.Active)
	}

	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- n.Shutdown(ctx)
	}()
	if e := <-shutdowns; e == nil {
		t.Error("Shutdown ran without the engine Handshake left on the Conn")
	}
	if b, err := io.ReadAll(br); err != nil || string(b) != "bye" {
		t.Errorf("at shutdown the client read %q, %v; want \"bye\" then EOF", b, err)
	}
	conn.Close()
	if err := <-done; err != nil {
		t.Errorf("Shutdown = %v, want nil", err)
	}
}

// A shutdown that comes while a Handshake is still writing its 101 waits
// for Serve to start, so the protocol's Shutdown always sees its engine.
func TestShutdownDuringHandshakeWaitsForServe(t *testing.T) {
	t.Parallel()
	n, err := negotiate.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	hijacked, proceed := make(chan struct{}), make(chan struct{})
	shutdowns := make(chan *engineConn, 1)
	p := splitEngine(shutdowns)
	handshake := p.Handshake
	p.Handshake = func(w http.ResponseWriter, r *http.Request) error {
		// Hijack first, through a writer that pauses the engine after it.
		return handshake(&pausing{ResponseWriter: w, hijacked: hijacked, proceed: proceed}, r)
	}
	mux := http.NewServeMux()
	mux.Handle("/split", n.Endpoint(newRegistry(t, map[string]negotiate.Protocol{"split": p})))
	mux.Handle("/echo", n.Endpoint(echoRegistry(t)))
	srv := startServer(t, mux)
	type result struct {
		conn net.Conn
		resp *http.Response
		br   *bufio.Reader
		err  error
	}
	res := make(chan result, 1)
	go func() {
		conn, err := netDial(srv)
		if err != nil {
			res <- result{err: err}
			return
		}
		_, _ = io.WriteString(conn, upgradeReq("/split", "split"))
		br := bufio.NewReader(conn)
		resp, err := http.ReadResponse(br, nil)
		res <- result{conn, resp, br, err}
	}()
	<-hijacked
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- n.Shutdown(ctx)
	}()
	// The shutdown is under way (new switches on the shared negotiator
	// are refused) before the engine goes on.
	waitFor(t, "the shutdown to start", func() bool {
		resp, _, _, _ := raw(t, srv, upgradeReq("/echo", "echo/1"))
		return resp.StatusCode == http.StatusServiceUnavailable
	})
	close(proceed)
	r := <-res
	if r.err != nil {
		t.Fatalf("upgrade: %v", r.err)
	}
	defer r.conn.Close()
	if r.resp.StatusCode != 101 {
		t.Fatalf("upgrade: status %d, want 101", r.resp.StatusCode)
	}
	if e := <-shutdowns; e == nil {
		t.Error("Shutdown ran before Handshake left its engine")
	}
	if b, err := io.ReadAll(r.br); err != nil || string(b) != "bye" {
		t.Errorf("client read %q, %v; want \"bye\" then EOF", b, err)
	}
	r.conn.Close()
	if err := <-done; err != nil {
		t.Errorf("Shutdown = %v", err)
	}
}

// pausing lets a test hold a Handshake engine right after its hijack.
type pausing struct {
	http.ResponseWriter
	hijacked, proceed chan struct{}
}

func (p *pausing) Unwrap() http.ResponseWriter { return p.ResponseWriter }

func (p *pausing) Hijack() (c net.Conn, brw *bufio.ReadWriter, err error) {
	c, brw, err = p.ResponseWriter.(http.Hijacker).Hijack()
	close(p.hijacked)
	<-p.proceed
	return c, brw, err
}

// A Handshake that fails after hijacking has its connection closed and
// reported; Serve never runs.
func TestHandshakeErrorAfterHijack(t *testing.T) {
	t.Parallel()
	closed := make(chan negotiate.ConnInfo, 1)
	n := newNegotiator(t, &negotiate.Options{OnClose: func(i negotiate.ConnInfo) { closed <- i }})
	errEngine := errors.New("engine gave up")
	served := make(chan struct{}, 1)
	reg := newRegistry(t, map[string]negotiate.Protocol{"split": {
		Handshake: func(w http.ResponseWriter, r *http.Request) error {
			if _, _, err := w.(http.Hijacker).Hijack(); err != nil {
				return err
			}
			return errEngine
		},
		Serve: func(c *negotiate.Conn) error { served <- struct{}{}; return nil },
	}})
	srv := startServer(t, n.Endpoint(reg))
	conn, err := netDial(srv)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, _ = io.WriteString(conn, upgradeReq("/", "split"))
	expectClosed(t, bufio.NewReader(conn))
	if info := <-closed; !errors.Is(info.Err, errEngine) {
		t.Errorf("OnClose error = %v, want the engine's", info.Err)
	}
	select {
	case <-served:
		t.Error("Serve ran after a failed Handshake")
	default:
	}
}

// netDial opens a TCP connection to srv, bounded by a deadline.
func netDial(srv *httptest.Server) (net.Conn, error) {
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	return c, nil
}
