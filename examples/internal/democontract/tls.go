package democontract

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	gws "github.com/gorilla/websocket"

	"github.com/switchyard-http/switchyard/examples/demoapp"
	"github.com/switchyard-http/switchyard/internal/h2ctest"
	"github.com/switchyard-http/switchyard/internal/testkit"
	"github.com/switchyard-http/switchyard/internal/wstest"
	"github.com/switchyard-http/switchyard/negotiate"
)

// runTLS checks the contract over TLS: each check against a program of its
// own started with -tls (HTTP/2 and HTTP/1.1 by ALPN, a self-signed
// certificate), and one with -cert and -key.
func runTLS(t *testing.T) {
	for _, c := range []struct {
		name string
		f    func(t *testing.T, p *testkit.Program)
	}{
		{"TLSCertificate", tlsCertificate},
		{"TLSPlainRoutes", tlsPlainRoutes},
		{"TLSEchoBody", echoBody},
		{"TLSWebSocketEcho", webSocketEcho}, // wss://, HTTP/1.1
		{"TLSChat", chat},
		{"TLSUpgrades", tlsUpgrades},
		{"TLSShutdown", tlsShutdown},
		{"TLSWebSocketRefusals", webSocketRefusals},
		{"TLSReadHeaderTimeout", readHeaderTimeout},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.f(t, testkit.StartProgram(t, ".", nil, "-tls"))
		})
	}
	t.Run("TLSCertFlags", func(t *testing.T) {
		t.Parallel()
		tlsCertFlags(t)
	})
}

// insecure trusts any certificate: the demo's is self-signed, made at
// start (tlsCertificate checks it).
func insecure() *tls.Config { return &tls.Config{InsecureSkipVerify: true} }

// do sends one request for path to the program at base on a connection of
// its own: plain HTTP/1.1 for http (testkit.Do), HTTP/2 over TLS for
// https, trusting the program's certificate.
func do(t *testing.T, base, method, path string, body io.Reader) (*http.Response, string) {
	t.Helper()
	if !strings.HasPrefix(base, "https:") {
		return testkit.Do(t, method, base+path, nil, body)
	}
	return doTLS(t, insecure(), true, method, base+path, body)
}

// doTLS sends one request over TLS with conf, by HTTP/2 if h2 (else
// HTTP/1.1), on a connection of its own, and reads the whole response,
// all of it bounded by testkit.Timeout.
func doTLS(t *testing.T, conf *tls.Config, h2 bool, method, url string, body io.Reader) (*http.Response, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	protos := new(http.Protocols)
	protos.SetHTTP1(!h2)
	protos.SetHTTP2(h2)
	tr := &http.Transport{TLSClientConfig: conf, Protocols: protos}
	defer tr.CloseIdleConnections()
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatalf("%s %s over TLS (h2 %v): %v", method, url, h2, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s over TLS: reading the body: %v", method, url, err)
	}
	return resp, string(b)
}

// wantOverH2 checks /stats' over_h2: both keys present, with these counts.
func wantOverH2(t *testing.T, s demoStats, websocket, echo int64) {
	t.Helper()
	for name, want := range map[string]int64{"websocket": websocket, "echo": echo} {
		if got, ok := s.OverH2[name]; !ok || got != want {
			t.Errorf("/stats over_h2[%s] = %d (present %v), want %d", name, got, ok, want)
		}
	}
	if len(s.OverH2) != 2 {
		t.Errorf("/stats over_h2 = %v, want websocket and echo only", s.OverH2)
	}
}

var httpsURL = regexp.MustCompile(`^https://127\.0\.0\.1:[0-9]+$`)

// -tls: the listening line says https, and the certificate made at start
// is a short-lived self-signed ECDSA P-256 one for 127.0.0.1, ::1 and
// localhost, which a client that trusts it alone verifies.
func tlsCertificate(t *testing.T, p *testkit.Program) {
	if !httpsURL.MatchString(p.URL) {
		t.Errorf("listening on %q, want https://127.0.0.1:PORT", p.URL)
	}
	resp, body := do(t, p.URL, "GET", "/proto", nil)
	if resp.ProtoMajor != 2 || body != "HTTP/2.0" || resp.TLS == nil || resp.TLS.NegotiatedProtocol != "h2" {
		t.Fatalf("GET /proto over TLS: %s %q, want HTTP/2 by ALPN", resp.Proto, body)
	}
	cert := resp.TLS.PeerCertificates[0]
	if key, ok := cert.PublicKey.(*ecdsa.PublicKey); !ok || key.Curve != elliptic.P256() {
		t.Errorf("certificate key %T, want ECDSA P-256", cert.PublicKey)
	}
	if life := cert.NotAfter.Sub(cert.NotBefore); life > 2*demoapp.SelfSignedValidity || time.Now().After(cert.NotAfter) {
		t.Errorf("certificate valid %v to %v, want a short validity from now", cert.NotBefore, cert.NotAfter)
	}
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	for _, name := range []string{"127.0.0.1", "::1", "localhost"} {
		if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, DNSName: name}); err != nil {
			t.Errorf("certificate for %s: %v", name, err)
		}
	}
	if resp, body := doTLS(t, &tls.Config{RootCAs: roots}, true, "GET", p.URL+"/proto", nil); resp.StatusCode != 200 || body != "HTTP/2.0" {
		t.Errorf("GET /proto trusting the certificate: %d %q", resp.StatusCode, body)
	}
}

// Over TLS, HTTP/2 (ALPN h2) and HTTP/1.1 serve the same routes.
func tlsPlainRoutes(t *testing.T, p *testkit.Program) {
	for _, h2 := range []bool{true, false} {
		wantProto := map[bool]string{true: "HTTP/2.0", false: "HTTP/1.1"}[h2]
		resp, body := doTLS(t, insecure(), h2, "GET", p.URL+"/", nil)
		if resp.StatusCode != 200 || resp.Proto != wantProto || !strings.Contains(body, "new WebSocket(") {
			t.Errorf("GET / over TLS: %d %s, want 200 %s and the page", resp.StatusCode, resp.Proto, wantProto)
		}
		if resp, body := doTLS(t, insecure(), h2, "GET", p.URL+"/proto", nil); body != wantProto {
			t.Errorf("GET /proto over TLS: %d %s %q, want %s", resp.StatusCode, resp.Proto, body, wantProto)
		}
		big := strings.Repeat("0123456789abcdef", 1<<16) // 1 MiB
		if resp, body := doTLS(t, insecure(), h2, "POST", p.URL+"/echo", strings.NewReader(big)); resp.StatusCode != 200 || body != big {
			t.Errorf("POST /echo of 1 MiB over TLS (%s): %d, %d bytes back", wantProto, resp.StatusCode, len(body))
		}
		if resp, _ := doTLS(t, insecure(), h2, "GET", p.URL+"/nowhere", nil); resp.StatusCode != 404 {
			t.Errorf("GET /nowhere over TLS (%s): %d, want 404", wantProto, resp.StatusCode)
		}
	}
	// A plain HTTP/2 request at /ws or /chat is answered 426 as an
	// HTTP/2 response: without Upgrade and Connection, connection-specific
	// fields that HTTP/2 forbids (clients reset a stream that carries them).
	for _, path := range []string{"/ws", "/chat"} {
		resp, body := doTLS(t, insecure(), true, "GET", p.URL+path, nil)
		if resp.StatusCode != http.StatusUpgradeRequired || body == "" || resp.Header.Get("Upgrade") != "" || resp.Header.Get("Connection") != "" {
			t.Errorf("GET %s over HTTP/2: %d %q, Upgrade %q, Connection %q; want 426 with a reason and neither field",
				path, resp.StatusCode, body, resp.Header.Get("Upgrade"), resp.Header.Get("Connection"))
		}
	}
	resp, _ := doTLS(t, insecure(), true, "GET", p.URL+"/stats", nil)
	if resp.ProtoMajor != 2 {
		t.Errorf("GET /stats over TLS: %s, want HTTP/2", resp.Proto)
	}
	s := readStats(t, p)
	wantOverH2(t, s, 0, 0)
	if _, ok := s.Switched["h2c"]; !ok {
		t.Errorf("/stats over TLS: switched %v, want h2c present (at 0)", s.Switched)
	}
}

// Over TLS with HTTP/1.1, echo/1 switches on any path, the WebSocket's
// origin check holds, and an Upgrade: h2c is ignored (h2c is for
// cleartext only); /stats counts none of them over HTTP/2.
func tlsUpgrades(t *testing.T, p *testkit.Program) {
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Timeout)
	defer cancel()
	d := negotiate.Dialer{TLSConfig: insecure()}
	c, resp, err := d.Dial(ctx, p.URL+"/anywhere", []string{"echo/1"}, nil)
	if err != nil {
		t.Fatalf("echo/1 over TLS: %v", err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(testkit.Timeout))
	if resp.Header.Get("Upgrade") != "echo/1" {
		t.Errorf("echo/1 over TLS: Upgrade %q", resp.Header.Get("Upgrade"))
	}
	if got := testkit.RoundTrip(t, c, "raw bytes over TLS"); got != "raw bytes over TLS" {
		t.Errorf("echo/1 over TLS: echo %q", got)
	}

	_, resp = wstest.TryDial(t, &gws.Dialer{TLSClientConfig: insecure()}, wstest.URL(p.URL, "/ws"),
		http.Header{"Origin": {"https://evil.example"}})
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-origin wss: %d, want 403", resp.StatusCode)
	}

	conn, err := tls.Dial("tcp", p.Addr(), &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(testkit.Timeout))
	if _, err := io.WriteString(conn, "GET /proto HTTP/1.1\r\nHost: demo.test\r\nConnection: Upgrade, HTTP2-Settings\r\n"+
		"Upgrade: h2c\r\nHTTP2-Settings: "+h2ctest.Settings+"\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	hresp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(io.LimitReader(hresp.Body, 64))
	if hresp.StatusCode != 200 || string(body) != "HTTP/1.1" {
		t.Errorf("Upgrade: h2c over TLS: %d %q, want it ignored: 200 HTTP/1.1", hresp.StatusCode, body)
	}

	s := readStats(t, p)
	if s.Switched["echo"] != 1 || s.Switched["h2c"] != 0 || s.Switched["websocket"] != 0 {
		t.Errorf("/stats switched %v, want echo 1 only", s.Switched)
	}
	wantOverH2(t, s, 0, 0)
}

// SIGTERM over TLS: WebSockets (wss) get close 1001, echo/1 ends, and the
// program exits 0.
func tlsShutdown(t *testing.T, p *testkit.Program) {
	ws, _ := dialWS(t, gws.Dialer{}, p, "/ws")
	wstest.WantEcho(t, ws, gws.TextMessage, []byte("hi"))
	chatter, _ := dialWS(t, gws.Dialer{Subprotocols: []string{"chat.v1"}}, p, "/chat")
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Timeout)
	defer cancel()
	stream, _, err := (&negotiate.Dialer{TLSConfig: insecure()}).Dial(ctx, p.URL+"/any", []string{"echo/1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	_ = stream.SetDeadline(time.Now().Add(2 * testkit.Timeout))
	testkit.RoundTrip(t, stream, "hi")

	exited := stopInBackground(t, p)
	wstest.WantClose(t, ws, gws.CloseGoingAway)
	wstest.WantClose(t, chatter, gws.CloseGoingAway)
	if got := testkit.ReadAll(t, stream); got != "" {
		t.Errorf("echo/1 at shutdown: read %q, want the end of the stream", got)
	}
	wantExit0(t, p, exited)
}

// stopInBackground sends the program SIGTERM and returns the channel its
// exit status comes on (Stop kills it after testkit.Timeout).
func stopInBackground(t *testing.T, p *testkit.Program) chan int {
	exited := make(chan int, 1)
	go func() { exited <- p.Stop(t) }()
	t.Cleanup(func() { // before the kit's own, which would stop the program again
		select {
		case <-exited:
		case <-time.After(2 * testkit.Timeout):
		}
	})
	return exited
}

// wantExit0 waits for the status stopInBackground's SIGTERM ended with.
func wantExit0(t *testing.T, p *testkit.Program, exited chan int) {
	t.Helper()
	select {
	case code := <-exited:
		if code != 0 {
			t.Errorf("exit status %d, want 0; stderr:\n%s", code, p.Stderr())
		}
		exited <- code // for the cleanup
	case <-time.After(2 * testkit.Timeout):
		t.Fatal("Stop did not return")
	}
}

// -cert and -key serve the certificate of those files (HTTP/2 by ALPN),
// which a client that trusts it verifies.
func tlsCertFlags(t *testing.T) {
	certPEM, keyPEM, err := demoapp.SelfSigned()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	p := testkit.StartProgram(t, ".", nil, "-cert", certFile, "-key", keyFile)
	if !httpsURL.MatchString(p.URL) {
		t.Errorf("listening on %q, want https://127.0.0.1:PORT", p.URL)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(certPEM) {
		t.Fatal("the certificate does not parse")
	}
	resp, body := doTLS(t, &tls.Config{RootCAs: roots}, true, "GET", p.URL+"/proto", nil)
	block, _ := pem.Decode(certPEM)
	if body != "HTTP/2.0" || !bytes.Equal(resp.TLS.PeerCertificates[0].Raw, block.Bytes) {
		t.Errorf("GET /proto with -cert: %q, certificate from the file %v", body,
			bytes.Equal(resp.TLS.PeerCertificates[0].Raw, block.Bytes))
	}
	if !slices.Contains(resp.TLS.PeerCertificates[0].DNSNames, "localhost") {
		t.Errorf("served certificate names %v", resp.TLS.PeerCertificates[0].DNSNames)
	}
}
