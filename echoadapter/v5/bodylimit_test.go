package echoadapter_test

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/labstack/echo/v5"
	"github.com/labstack/echo/v5/middleware"

	"github.com/switchyard-http/switchyard/echoadapter/v5"
	"github.com/switchyard-http/switchyard/internal/testkit"
	"github.com/switchyard-http/switchyard/negotiate"
)

// handlerRoutes is the Skipper the package documentation gives BodyLimit
// and BodyDump, mounted behind Middleware: it passes by the routes served
// by Handler, whose streams' bytes are not a body, and nothing else.
func handlerRoutes(c *echo.Context) bool {
	return c.Path() == "/ws"
}

// TestBodyLimitBehindMiddleware: with BodyLimit behind Middleware, and
// the documented Skipper for Handler's route, every request that reaches
// the routes meets the limit, whatever it offers, and no switch does. An
// HTTP/1.1 request offering a protocol nobody registered, and an HTTP/2
// extended CONNECT naming one, go on to the routes as ordinary requests,
// and any client can send either: the Skippers the documentation gave
// earlier passed the first (negotiate.IsUpgrade), then the second (every
// HTTP/2 request it is true for), by the limit, and a handler taking any
// method read a body of any size. TestXConnectThroughEchoMiddleware checks
// that streams of both mounts pass by it.
func TestBodyLimitBehindMiddleware(t *testing.T) {
	testkit.EachXConnect(t, func(t *testing.T, useTLS bool) {
		n, reg, e := newParts(t)
		ws := new(negotiate.Registry)
		ws.HandleFunc("echo/2", testkit.EchoConn)
		e.Use(echoadapter.Middleware(n, reg))
		e.Use(middleware.BodyLimitWithConfig(middleware.BodyLimitConfig{LimitBytes: 1024, Skipper: handlerRoutes}))
		e.Any("/ws", echoadapter.Handler(n, ws))
		e.Any("/upload", func(c *echo.Context) error {
			if c.Request().Method == http.MethodConnect {
				// A CONNECT's body comes after its answer.
				c.Response().WriteHeader(http.StatusOK)
				_ = http.NewResponseController(c.Response()).Flush()
			}
			b, err := io.ReadAll(c.Request().Body)
			if err != nil {
				return c.String(http.StatusRequestEntityTooLarge, "body too large: "+err.Error())
			}
			return c.String(http.StatusOK, strconv.Itoa(len(b)))
		})
		srv := testkit.StartH2Server(t, e, n, useTLS)
		body := strings.Repeat("b", 64<<10)
		for _, h := range []http.Header{
			nil,
			{"Connection": {"Upgrade"}, "Upgrade": {"not-registered"}},
		} {
			if useTLS {
				break // the same HTTP/1.1 requests: the h2c server's are in clear
			}
			resp, got := testkit.Do(t, http.MethodPost, srv.URL+"/upload", h, strings.NewReader(body))
			if resp.StatusCode != http.StatusRequestEntityTooLarge {
				t.Errorf("POST of %d bytes with %v: %s %q, want 413 from BodyLimit", len(body), h, resp.Status, got)
			}
		}
		c := testkit.XClient(t, srv, useTLS)
		st, resp, err := testkit.XDial(t, c, srv.URL+"/upload", "not-registered", nil)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("extended CONNECT to a route: %v, %v; want the route's 200", resp, err)
		}
		small := body[:2048] // over the limit, within the stream's window
		if _, err := io.WriteString(st, small); err != nil {
			t.Fatal(err)
		}
		if err := st.CloseWrite(); err != nil {
			t.Fatal(err)
		}
		if got, _ := io.ReadAll(st); !strings.Contains(string(got), "too large") {
			t.Errorf("the route read a CONNECT's %d-byte body past BodyLimit's 1K: %q", len(small), got)
		}
		for _, x := range []struct{ path, token string }{{"/upload", "echo/1"}, {"/ws", "echo/2"}} {
			st, resp, err := testkit.XDial(t, c, srv.URL+x.path, x.token, nil)
			if err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("extended CONNECT %s to %s: %v, %v; want 200", x.token, x.path, resp, err)
			}
			if got := testkit.RoundTrip(t, st, body); got != body {
				t.Errorf("%s's stream echoed %d of %d bytes", x.token, len(got), len(body))
			}
		}
	})
}
