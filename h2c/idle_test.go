package h2c_test

import (
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-http/switchyard/h2c"
	"github.com/switchyard-http/switchyard/internal/testkit"
)

// An upgraded connection that has had no stream open for its idle timeout
// gets GOAWAY (NO_ERROR) and is closed, as net/http closes an idle
// prior-knowledge connection: the timeout is Options.IdleTimeout, or else
// the IdleTimeout of the http.Server the upgrade came through, or else its
// ReadTimeout. (Upgraded connections used to stay open, idle, forever.)
func TestIdleTimeout(t *testing.T) {
	const idle = 200 * time.Millisecond
	for _, tc := range []struct {
		name                      string
		opts                      *h2c.Options
		serverIdle, serverReadTTL time.Duration
	}{
		{"Options.IdleTimeout", &h2c.Options{IdleTimeout: idle}, 0, 0},
		{"Options.IdleTimeout over the server's", &h2c.Options{IdleTimeout: idle}, time.Hour, 0},
		{"the server's IdleTimeout", nil, idle, time.Hour},
		{"the server's ReadTimeout", nil, 0, idle},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			n := testkit.NewNegotiator(t, nil)
			srv := httptest.NewUnstartedServer(n.Middleware(register(newH2C(t, tc.opts)))(app))
			srv.Config.IdleTimeout, srv.Config.ReadTimeout = tc.serverIdle, tc.serverReadTTL
			// A ReadTimeout bounds the upgrade request's read too: the
			// request is there when the server starts to read it.
			srv.Listener = testkit.Arrived(srv.Listener)
			srv.Start()
			t.Cleanup(srv.Close)

			c := upgrade(t, srv)
			// A stream after the upgrade's: the timeout counts from the
			// last stream's end.
			if r, err := c.Get("/again"); err != nil || r.Status != 200 {
				t.Fatalf("GET /again: %+v %v", r, err)
			}
			ga, err := c.WaitGoAway()
			if err != nil || ga.ErrCode != 0 {
				t.Fatalf("an idle upgraded connection: %v, %v; want GOAWAY NO_ERROR", ga, err)
			}
			for {
				_, err := c.WaitGoAway()
				if err == nil {
					continue
				}
				if !errors.Is(err, io.EOF) && !strings.Contains(err.Error(), "reset") {
					t.Fatalf("after GOAWAY: %v, want the server to close", err)
				}
				break
			}
		})
	}
}

// A negative Options.IdleTimeout turns the timeout off: an upgraded
// connection still serves after a plain keep-alive connection that went
// idle later has been closed by the server's IdleTimeout.
func TestIdleTimeoutOff(t *testing.T) {
	t.Parallel()
	n := testkit.NewNegotiator(t, nil)
	srv := httptest.NewUnstartedServer(n.Middleware(register(newH2C(t, &h2c.Options{IdleTimeout: -1})))(app))
	srv.Config.IdleTimeout = 200 * time.Millisecond
	srv.Start()
	t.Cleanup(srv.Close)

	c := upgrade(t, srv)
	plain := testkit.Raw(t, testkit.Addr(srv), "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	testkit.ExpectClosed(t, plain)
	if r, err := c.Get("/later"); err != nil || r.Status != 200 {
		t.Fatalf("GET /later on the upgraded connection: %+v %v, want it still serving", r, err)
	}
	c.Conn.Close()
}
