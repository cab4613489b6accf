package interop_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	gws "github.com/gorilla/websocket"

	"github.com/switchyard-http/switchyard/internal/h2ctest"
	"github.com/switchyard-http/switchyard/internal/testkit"
	"github.com/switchyard-http/switchyard/internal/wstest"
)

// TestNginx puts Debian's nginx, configured the way everybody copies for
// WebSocket, in front of two instances of the demo (round robin) and shows:
//
//   - WebSocket (gorilla's Dialer) and echo/1 (a raw upgrade, with bytes
//     sent right behind the request head) switch through it, land on both
//     instances, are live on their instance while open and released after;
//   - a browser's same-origin WebSocket is refused (403) where nginx
//     forwards Host without the port ($host) on a port other than 80 or
//     443, and passes with Host $http_host;
//   - h2c is not upgraded through it: the offer is served as HTTP/1.1 and
//     nothing switches, also where nginx passes Connection through, so that
//     only the instances' smuggling guard is left — and, as a control, a
//     location that hides that it is a proxy does switch, handing the
//     client an HTTP/2 tunnel past the proxy's rules;
//   - graceful: with connections open through nginx, the instances shut
//     down (WebSocket close 1001 and echo/1's close reach the client
//     through nginx), then nginx quits on SIGQUIT; no goroutine is left
//     (TestMain's check).
//
// The subtests run in order on one proxy: the round robin's position and
// each instance's counts carry from one to the next.
func TestNginx(t *testing.T) {
	t.Parallel()
	bin := nginxProgram(t)
	a := startDemoInstance(t, "a")
	b := startDemoInstance(t, "b")
	instances := []*demoInstance{a, b}
	px := startNginx(t, bin, []string{a.addr, b.addr})
	t.Logf("nginx on %s in front of a on %s and b on %s", px.addr, a.addr, b.addr)
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(px.logs())
		}
	})

	ctx, cancel := context.WithTimeout(context.Background(), 2*testTimeout)
	defer cancel()
	deadline, _ := ctx.Deadline()

	t.Run("WebSocket", func(t *testing.T) {
		before := switchedOn(instances, "websocket")
		// Two connections held open at once: one worker's round robin
		// sends consecutive ones to different instances. One offers
		// permessage-deflate, which nginx forwards untouched.
		conns := make([]*gws.Conn, 2)
		seenOn := map[string]bool{}
		for i := range conns {
			compress := i == 1
			c, resp := wstest.Dial(t, &gws.Dialer{EnableCompression: compress}, px.url("ws", "/ws"), nil)
			checkHandshake(t, resp, compress)
			seenOn[resp.Header.Get(instanceHeader)] = true
			conns[i] = c
		}
		if !seenOn["a"] || !seenOn["b"] {
			t.Errorf("101s came from instances %v (%s), want a and b", seenOn, instanceHeader)
		}
		// Each instance counts one live WebSocket while both are open.
		waitCounts(ctx, t, "while open", instances, "websocket", 1)
		for _, c := range conns {
			for _, m := range messages()[:2] { // text, binary
				wstest.WantEcho(t, c, m.gorillaType(), m.data)
			}
		}
		// A clean close through nginx: the client's 1000 reaches the
		// instance, whose answering 1000 comes back.
		for _, c := range conns {
			wstest.CloseNormally(t, c)
		}
		waitCounts(ctx, t, "after close", instances, "websocket", 0)
		for i, inst := range instances {
			if got := inst.stats().Switched["websocket"] - before[i]; got != 1 {
				t.Errorf("instance %s counted %d WebSocket switches, want 1", inst.name, got)
			}
		}
	})

	t.Run("echo/1", func(t *testing.T) {
		before := switchedOn(instances, "echo")
		type echoConn struct {
			c  net.Conn
			rd io.Reader
		}
		conns := make([]echoConn, 2)
		seenOn := map[string]bool{}
		for i := range conns {
			// nginx keeps bytes that came behind the head and sends them
			// upstream after the 101.
			early := []byte("early bytes, sent with the head\n")
			x := testkit.Raw(t, px.addr, testkit.UpgradeRequest("/any/path", "echo/1")+string(early))
			c, br, resp := x.Conn, x.BR, x.Resp
			c.SetDeadline(deadline)
			if resp.StatusCode != http.StatusSwitchingProtocols ||
				!strings.EqualFold(resp.Header.Get("Upgrade"), "echo/1") ||
				!strings.EqualFold(resp.Header.Get("Connection"), "upgrade") {
				t.Fatalf("echo/1 %d: %s, Upgrade %q, Connection %q; want 101, echo/1, upgrade", i, resp.Status, resp.Header.Get("Upgrade"), resp.Header.Get("Connection"))
			}
			seenOn[resp.Header.Get(instanceHeader)] = true
			got := make([]byte, len(early))
			if _, err := io.ReadFull(br, got); err != nil || !bytes.Equal(got, early) {
				t.Fatalf("echo/1 %d: early bytes came back as %q (%v), want %q", i, got, err, early)
			}
			conns[i] = echoConn{c, br}
		}
		if !seenOn["a"] || !seenOn["b"] {
			t.Errorf("101s came from instances %v (%s), want a and b", seenOn, instanceHeader)
		}
		waitCounts(ctx, t, "while open", instances, "echo", 1)

		// 256 KiB of every byte value each way, more than nginx's
		// buffers, written while it is read back.
		payload := make([]byte, 256<<10)
		for i := range payload {
			payload[i] = byte(i * 7)
		}
		for i, ec := range conns {
			var wg sync.WaitGroup
			var werr error
			wg.Go(func() {
				_, werr = ec.c.Write(payload)
			})
			got := make([]byte, len(payload))
			_, rerr := io.ReadFull(ec.rd, got)
			wg.Wait()
			if werr != nil || rerr != nil {
				t.Fatalf("echo/1 %d: write %v, read %v", i, werr, rerr)
			}
			if !bytes.Equal(got, payload) {
				t.Errorf("echo/1 %d: %d bytes came back different", i, len(payload))
			}
			// The client ends its side; the instance's echo sees EOF and
			// closes, and nginx closes the client's connection.
			if err := ec.c.(*net.TCPConn).CloseWrite(); err != nil {
				t.Fatal(err)
			}
			if rest, err := io.ReadAll(ec.rd); err != nil || len(rest) != 0 {
				t.Errorf("echo/1 %d: after the client's end, read %q, %v; want EOF", i, rest, err)
			}
			ec.c.Close()
		}
		waitCounts(ctx, t, "after close", instances, "echo", 0)
		for i, inst := range instances {
			if got := inst.stats().Switched["echo"] - before[i]; got != 1 {
				t.Errorf("instance %s counted %d echo/1 switches, want 1", inst.name, got)
			}
		}
	})

	// A browser sends Origin, and on a port other than 80 and 443 the
	// origin carries the port. "proxy_set_header Host $host", in every
	// copied configuration, forwards the host without the port, so the
	// WebSocket's same-origin check (Origin's host:port equal to Host)
	// refuses the browser's own page with 403 — the demo's chat page
	// included. Forwarding the Host the client sent ($http_host) keeps the
	// port and the check passes.
	t.Run("WebSocket from a browser page: Host $host drops the port", func(t *testing.T) {
		origin := http.Header{"Origin": {px.url("http", "")}}
		if c, resp := wstest.TryDial(t, nil, px.url("ws", "/ws"), origin); c != nil || resp.StatusCode != http.StatusForbidden {
			t.Fatalf("location / (Host $host): %s with Origin %s, want 403", resp.Status, origin.Get("Origin"))
		}
		c, _ := wstest.Dial(t, nil, px.url("ws", "/http-host/ws"), origin)
		c.Close()
		// The two attempts went one to each instance; the second's
		// connection is released when the client goes.
		waitCounts(ctx, t, "after close", instances, "websocket", 0)
	})

	// h2c through nginx. The request is what curl --http2 sends: Upgrade:
	// h2c, one HTTP2-Settings, Connection: Upgrade, HTTP2-Settings.
	//
	// Through location / (the usual configuration) two things stand in
	// its way. nginx rewrites Connection to the map's "upgrade",
	// dropping the HTTP2-Settings token (it forwards HTTP2-Settings
	// itself), and h2c's check ignores an offer whose Connection does not
	// list HTTP2-Settings (RFC 7540 §3.2.1) — that is the reason the
	// instance acts on, since it is checked first. And nginx adds
	// X-Forwarded-For, so the instances' smuggling guard (a proxied
	// request from an untrusted peer is not upgraded) would refuse it
	// anyway. Not every server insists on the Connection token, so the
	// rewriting alone is no defence: /passthrough/ forwards Connection as
	// the client sent it, the instance receives an offer that is valid in
	// every respect but X-Forwarded-For, and the guard alone keeps it
	// HTTP/1.1. /unguarded/ (no X-Forwarded-* either) is the control:
	// there the instance cannot tell that a proxy is in between, switches,
	// and nginx relays the 101 and then raw bytes — the client has an
	// HTTP/2 connection to the instance on which nginx's rules no longer
	// apply (h2c smuggling).
	h2cOffer := func(t *testing.T, path string) (*h2ctest.Client, *h2ctest.Response, net.Conn) {
		t.Helper()
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", px.addr)
		if err != nil {
			t.Fatal(err)
		}
		conn.SetDeadline(deadline)
		c, stream1, err := h2ctest.Upgrade(conn, h2ctest.RequestHead("GET", path, px.addr), nil)
		if err != nil {
			conn.Close()
			t.Fatalf("h2c offer for %s through nginx: %v\n%s", path, err, px.logs())
		}
		return c, stream1, conn
	}
	notUpgraded := func(t *testing.T, path string) http.Header {
		t.Helper()
		before := switchedOn(instances, "h2c")
		c, stream1, conn := h2cOffer(t, path)
		defer conn.Close()
		if stream1 != nil {
			t.Fatalf("%s: switched to h2c through nginx (stream 1: %d %q)", path, stream1.Status, stream1.Body)
		}
		resp := c.Upgrade
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("%s: reading the answer: %v", path, err)
		}
		// The instance served the request itself as HTTP/1.1.
		if resp.StatusCode != http.StatusOK || resp.Proto != "HTTP/1.1" || string(body) != "HTTP/1.1" {
			t.Errorf("%s: %s %s with body %q, want HTTP/1.1 200 with body HTTP/1.1", path, resp.Proto, resp.Status, body)
		}
		after := switchedOn(instances, "h2c")
		for i, inst := range instances {
			if after[i] != before[i] {
				t.Errorf("%s: instance %s counted %d h2c switches, want none", path, inst.name, after[i]-before[i])
			}
		}
		inst := instanceNamed(t, instances, resp.Header.Get(instanceHeader))
		offer, _ := inst.lastOffer()
		if offer == nil {
			t.Fatalf("%s: instance %s saw no upgrade offer", path, inst.name)
		}
		if got := offer.Get("Upgrade"); !strings.EqualFold(got, "h2c") {
			t.Errorf("%s: instance received Upgrade %q, want h2c", path, got)
		}
		if got := offer.Values("Http2-Settings"); len(got) != 1 || got[0] != h2ctest.Settings {
			t.Errorf("%s: instance received HTTP2-Settings %q, want [%q]", path, got, h2ctest.Settings)
		}
		return offer
	}

	t.Run("h2c not upgraded (location /)", func(t *testing.T) {
		offer := notUpgraded(t, "/proto")
		if got := offer.Get("Connection"); !strings.EqualFold(got, "upgrade") {
			t.Errorf("instance received Connection %q, want nginx's upgrade", got)
		}
		if got := offer.Get("X-Forwarded-For"); got != "127.0.0.1" {
			t.Errorf("instance received X-Forwarded-For %q, want 127.0.0.1", got)
		}
	})

	t.Run("h2c not upgraded, guard alone (location /passthrough/)", func(t *testing.T) {
		offer := notUpgraded(t, "/passthrough/proto")
		if got := offer.Get("Connection"); got != "Upgrade, HTTP2-Settings" {
			t.Errorf("instance received Connection %q, want the client's %q", got, "Upgrade, HTTP2-Settings")
		}
		if got := offer.Get("X-Forwarded-For"); got != "127.0.0.1" {
			t.Errorf("instance received X-Forwarded-For %q, want 127.0.0.1", got)
		}
	})

	t.Run("control: h2c smuggled where the proxy is invisible (location /unguarded/)", func(t *testing.T) {
		before := switchedOn(instances, "h2c")
		c, stream1, conn := h2cOffer(t, "/unguarded/proto")
		defer conn.Close()
		if stream1 == nil {
			t.Fatalf("not switched: %s (the control must switch, or the cases above prove nothing)", c.Upgrade.Status)
		}
		if stream1.Status != http.StatusOK || string(stream1.Body) != "HTTP/2.0" {
			t.Errorf("stream 1: %d %q, want 200 HTTP/2.0", stream1.Status, stream1.Body)
		}
		inst := instanceNamed(t, instances, c.Upgrade.Header.Get(instanceHeader))
		// nginx answers /stats itself with 403; through the tunnel the
		// instance answers it.
		resp, err := c.Get("/stats")
		if err != nil {
			t.Fatalf("GET /stats on the tunnel: %v", err)
		}
		var stats struct {
			Active map[string]int `json:"active"`
		}
		if resp.Status != http.StatusOK || json.Unmarshal(resp.Body, &stats) != nil || stats.Active["h2c"] != 1 {
			t.Errorf("GET /stats on the tunnel: %d %q, want the instance's 200 with one live h2c connection", resp.Status, resp.Body)
		}
		plain := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: testTimeout}
		if r, err := plain.Get(px.url("http", "/stats")); err != nil {
			t.Errorf("GET /stats through nginx: %v", err)
		} else {
			r.Body.Close()
			if r.StatusCode != http.StatusForbidden {
				t.Errorf("GET /stats through nginx: %s, want nginx's 403", r.Status)
			}
		}
		conn.Close()
		waitCounts(ctx, t, "after close", []*demoInstance{inst}, "h2c", 0)
		after := switchedOn(instances, "h2c")
		if got := (after[0] - before[0]) + (after[1] - before[1]); got != 1 {
			t.Errorf("instances counted %d h2c switches, want 1", got)
		}
	})

	t.Run("graceful", func(t *testing.T) {
		// A WebSocket on each instance and an echo/1 connection, all
		// through nginx, while the instances shut down.
		var ws []*gws.Conn
		for range 2 {
			c, _ := wstest.Dial(t, nil, px.url("ws", "/ws"), nil)
			ws = append(ws, c)
		}
		x := testkit.Raw(t, px.addr, testkit.UpgradeRequest("/", "echo/1"))
		ec, ebr, resp := x.Conn, x.BR, x.Resp
		ec.SetDeadline(deadline)
		if resp.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("echo/1: %s, want 101", resp.Status)
		}
		waitCounts(ctx, t, "while open", instances, "websocket", 1)

		stopped := make(chan error, len(instances))
		for _, inst := range instances {
			go func() { stopped <- inst.stop() }()
		}
		// Each WebSocket receives the instance's 1001 through nginx;
		// gorilla answers it from inside ReadMessage.
		for _, c := range ws {
			wstest.WantClose(t, c, gws.CloseGoingAway)
		}
		// echo/1 is closed: nginx passes the instance's close on.
		if rest, err := io.ReadAll(ebr); err != nil || len(rest) != 0 {
			t.Errorf("echo/1 during shutdown: read %q, %v; want EOF", rest, err)
		}
		for range instances {
			if err := <-stopped; err != nil {
				t.Errorf("instance shutdown: %v", err)
			}
		}
		for _, inst := range instances {
			if s := inst.stats(); s.Active["websocket"]+s.Active["echo"]+s.Active["h2c"] != 0 {
				t.Errorf("instance %s: %v live after shutdown", inst.name, s.Active)
			}
		}
		// Nothing is left open through nginx: SIGQUIT has nothing to wait
		// for.
		if err := px.stop(); err != nil {
			t.Errorf("nginx: %v\n%s", err, px.logs())
		}
	})
}

// switchedOn returns each instance's switch count for name.
func switchedOn(instances []*demoInstance, name string) []int64 {
	out := make([]int64, len(instances))
	for i, inst := range instances {
		out[i] = inst.stats().Switched[name]
	}
	return out
}

// waitCounts waits until every instance counts want live connections of
// protocol name. The counts change on the instances' goroutines a moment
// after the client sees the 101 or the close, so they are polled; ctx
// bounds the wait.
func waitCounts(ctx context.Context, t *testing.T, when string, instances []*demoInstance, name string, want int) {
	t.Helper()
	for {
		ok := true
		for _, inst := range instances {
			if inst.stats().Active[name] != want {
				ok = false
			}
		}
		if ok {
			return
		}
		select {
		case <-ctx.Done():
			for _, inst := range instances {
				t.Errorf("%s: instance %s has %d live %s connections, want %d", when, inst.name, inst.stats().Active[name], name, want)
			}
			t.FailNow()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func instanceNamed(t *testing.T, instances []*demoInstance, name string) *demoInstance {
	t.Helper()
	for _, inst := range instances {
		if inst.name == name {
			return inst
		}
	}
	t.Fatalf("answer from instance %q (%s), want a or b", name, instanceHeader)
	return nil
}
