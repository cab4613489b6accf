package upgrade_test

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-http/switchyard/internal/testkit"
	"github.com/switchyard-http/switchyard/internal/upgrade"
	"github.com/switchyard-http/switchyard/negotiate"
)

// Over TLS the exchange offers only http/1.1 by ALPN, so that a server
// that also speaks HTTP/2 (as most TLS servers do) answers the upgrade in
// HTTP/1.1, and TLS checks the URL's host, whatever the Host field, unless
// the TLSConfig names a server.
func TestDoTLS(t *testing.T) {
	t.Parallel()
	reg := new(negotiate.Registry)
	reg.HandleFunc("echo/1", testkit.EchoConn)
	srv := httptest.NewUnstartedServer(testkit.NewNegotiator(t, nil).Endpoint(reg))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	roots := srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	for _, tc := range []struct {
		name       string
		serverName string // the TLSConfig's
		host       string // the Host field
		verified   bool   // the certificate (for 127.0.0.1 and example.com) is for the name checked
	}{
		{"the URL's host", "", "", true},
		{"the URL's host, not the Host field's", "", "other.test", true},
		{"the TLSConfig's server", "example.com", "", true},
		{"the TLSConfig's server, not the URL's host", "other.test", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := upgrade.Client{Timeout: testkit.Timeout, TLSConfig: &tls.Config{RootCAs: roots, ServerName: tc.serverName}}
			res, err := c.Do(context.Background(), &upgrade.Request{URL: mustURL(t, srv.URL), Host: tc.host, Offer: []string{"echo/1"}})
			if !tc.verified {
				if err == nil || !strings.Contains(err.Error(), "certificate") {
					t.Errorf("Do = %v, want a certificate error", err)
				}
				return
			}
			if err != nil || res.Conn == nil {
				t.Fatalf("Do = %v, want a switch over TLS", err)
			}
			defer res.Conn.Close()
			if got := testkit.RoundTrip(t, res.Conn, "over TLS"); got != "over TLS" {
				t.Errorf("echo = %q", got)
			}
		})
	}
}

// held is a loopback listener that accepts connections and holds them,
// reading nothing and answering nothing, until the test ends; accepted
// gets each connection as it is accepted.
func held(t *testing.T) (addr string, accepted <-chan net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan net.Conn, 16)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			ch <- c
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		close(ch)
		for c := range ch {
			c.Close()
		}
	})
	return ln.Addr().String(), ch
}

// Every stage of the exchange ends when its context does, or when
// Client.Timeout passes, with the context's error: the dial (NetDial gets
// the exchange's context) and the TLS handshake with a server that says
// nothing (reading the response head: TestDoContextEnds, and negotiate's
// TestDialArgumentsAndContext).
func TestDoStagesEnd(t *testing.T) {
	t.Parallel()
	do := func(c upgrade.Client, ctx context.Context, url string) error {
		errs := make(chan error, 1)
		go func() {
			res, err := c.Do(ctx, &upgrade.Request{URL: mustURL(t, url), Offer: []string{"echo/1"}})
			if err == nil {
				res.Conn.Close()
			}
			errs <- err
		}()
		return testkit.Receive(t, errs, "the end of Do")
	}
	waitingDial := func(ctx context.Context, _, _ string) (net.Conn, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	t.Run("dial, timeout", func(t *testing.T) {
		t.Parallel()
		err := do(upgrade.Client{Timeout: 100 * time.Millisecond, NetDial: waitingDial}, context.Background(), "ws://127.0.0.1:1/")
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Do = %v, want context.DeadlineExceeded", err)
		}
	})
	t.Run("dial, cancel", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(50*time.Millisecond, cancel)
		err := do(upgrade.Client{Timeout: testkit.Timeout, NetDial: waitingDial}, ctx, "ws://127.0.0.1:1/")
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Do = %v, want context.Canceled", err)
		}
	})
	t.Run("TLS, timeout", func(t *testing.T) {
		t.Parallel()
		addr, _ := held(t)
		err := do(upgrade.Client{Timeout: 100 * time.Millisecond}, context.Background(), "wss://"+addr+"/")
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Do = %v, want context.DeadlineExceeded", err)
		}
	})
	t.Run("TLS, cancel", func(t *testing.T) {
		t.Parallel()
		addr, accepted := held(t)
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			if _, ok := <-accepted; ok {
				cancel() // the client is dialed, and in (or about to be in) the handshake
			}
		}()
		err := do(upgrade.Client{Timeout: testkit.Timeout}, ctx, "wss://"+addr+"/")
		cancel()
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Do = %v, want context.Canceled", err)
		}
	})
}

// A refusal's body is kept up to MaxRefusalBytes, whether that is under or
// over the bound on the heads: the heads' bound stops at the final head.
func TestRefusalBodyBound(t *testing.T) {
	t.Parallel()
	body := strings.Repeat("b", 200<<10)
	srv := testkit.Holding(t, "HTTP/1.1 403 Forbidden\r\nContent-Length: 204800\r\n\r\n"+body)
	for _, tc := range []struct {
		max  int64
		want int
	}{{0, upgrade.DefaultMaxRefusalBytes}, {1000, 1000}, {1 << 20, len(body)}} {
		c := upgrade.Client{Timeout: testkit.Timeout, MaxRefusalBytes: tc.max}
		res, err := c.Do(context.Background(), &upgrade.Request{URL: mustURL(t, srv.URL()), Offer: []string{"echo/1"}})
		if err != nil || res.Response.StatusCode != http.StatusForbidden {
			t.Fatalf("Do = %v, want the 403", err)
		}
		if string(res.Body) != body[:tc.want] {
			t.Errorf("MaxRefusalBytes %d: kept %d bytes of the body, want %d", tc.max, len(res.Body), tc.want)
		}
		if got, err := io.ReadAll(res.Response.Body); err != nil || string(got) != string(res.Body) {
			t.Errorf("MaxRefusalBytes %d: Response.Body reads %d bytes, %v; want the %d kept", tc.max, len(got), err, len(res.Body))
		}
	}
}
