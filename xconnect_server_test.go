package switchyard_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/switchyard-http/switchyard/internal/testkit"
	"github.com/switchyard-http/switchyard/negotiate"
)

// The http.Server's ReadTimeout and WriteTimeout do not reach a stream
// switched by extended CONNECT, however long its gate took, as they do not
// reach an HTTP/1.1 connection the hijack took over. On HTTP/2 they run
// from the stream's start and end it for good when they pass, waiting read
// or write or not: with an Authorize slower than them, the client got 200
// and then the end of the stream (ReadTimeout: the protocol's first read
// failed, 'i/o timeout'), or a reset (WriteTimeout: INTERNAL_ERROR), where
// HTTP/1.1 switched.
func TestXConnectSlowGateOutlastsServerTimeouts(t *testing.T) {
	testkit.EachXConnect(t, func(t *testing.T, useTLS bool) {
		const timeout = 100 * time.Millisecond
		for _, which := range []string{"ReadTimeout", "WriteTimeout"} {
			t.Run(which, func(t *testing.T) {
				n := testkit.NewNegotiator(t, &negotiate.Options{Authorize: func(*negotiate.Switch) error {
					time.Sleep(3 * timeout) // a slow authorization: the server's timeout passes meanwhile
					return nil
				}})
				reg := new(negotiate.Registry)
				reg.HandleFunc("echo/1", testkit.EchoConn)
				srv := httptest.NewUnstartedServer(n.Middleware(reg)(http.NotFoundHandler()))
				if which == "ReadTimeout" {
					srv.Config.ReadTimeout = timeout
				} else {
					srv.Config.WriteTimeout = timeout
				}
				testkit.StartH2(t, srv, n, useTLS)
				st, resp, err := testkit.XDial(t, testkit.XClient(t, srv, useTLS), srv.URL+"/", "echo/1", nil)
				if err != nil {
					t.Fatalf("switch: %v", err)
				}
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("switch: %s, want 200", resp.Status)
				}
				if got := testkit.RoundTrip(t, st, "hello"); got != "hello" {
					t.Errorf("echo: %q, want hello", got)
				}
			})
		}
	})
}
