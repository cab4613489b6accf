package echoadapter_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	gws "github.com/gorilla/websocket"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/switchyard-http/switchyard/internal/adaptertest"
	"github.com/switchyard-http/switchyard/internal/testkit"
	"github.com/switchyard-http/switchyard/internal/wstest"
	"github.com/switchyard-http/switchyard/negotiate"
)

// The three 101s of one subtest of TestEchoMiddlewareInFront.
type switches struct {
	ws, stream, h2c *http.Response
}

// Each of Echo's own middleware in front of the adapter, with a real
// WebSocket (the websocket package's engine), a real echo/1 and a real h2c
// switch through it.
func TestEchoMiddlewareInFront(t *testing.T) {
	t.Parallel()
	type check func(t *testing.T, a *testApp, s switches)
	logged := func(buf *testkit.LockedBuffer, lines ...string) check {
		return func(t *testing.T, a *testApp, _ switches) {
			testkit.WaitFor(t, fmt.Sprintf("log lines %q", lines), func() bool {
				for _, l := range lines {
					if !strings.Contains(buf.String(), l+"\n") {
						return false
					}
				}
				return true
			})
		}
	}
	// header101 wants the field, with the value want if it is not "", in
	// every protocol's 101, written by the negotiator.
	header101 := func(name, want string) check {
		return func(t *testing.T, a *testApp, s switches) {
			for proto, resp := range map[string]*http.Response{"websocket": s.ws, "echo/1": s.stream, "h2c": s.h2c} {
				got := resp.Header.Get(name)
				if got == "" || want != "" && got != want {
					t.Errorf("%s 101: %s = %q, want %q; header %v", proto, name, got, want, resp.Header)
				}
			}
		}
	}
	// not101 wants the field absent from every 101: it describes a body.
	not101 := func(name string) check {
		return func(t *testing.T, a *testApp, s switches) {
			for proto, resp := range map[string]*http.Response{"websocket": s.ws, "echo/1": s.stream, "h2c": s.h2c} {
				if v, ok := resp.Header[http.CanonicalHeaderKey(name)]; ok {
					t.Errorf("%s 101 carries %s: %q", proto, name, v)
				}
			}
		}
	}
	both := func(cs ...check) check {
		return func(t *testing.T, a *testApp, s switches) {
			for _, c := range cs {
				c(t, a, s)
			}
		}
	}
	loggerOut, requestLoggerOut := new(testkit.LockedBuffer), new(testkit.LockedBuffer)
	tests := []struct {
		name   string
		mw     echo.MiddlewareFunc
		header http.Header // sent with each upgrade request
		pause  time.Duration
		check  check
	}{
		{name: "Logger",
			//lint:ignore SA1019 Echo's Logger is deprecated but still in use; it must log 101 too
			mw:    middleware.LoggerWithConfig(middleware.LoggerConfig{Format: "${method} ${uri} ${status}\n", Output: loggerOut}),
			check: logged(loggerOut, "GET /ws 101", "GET /any 101", "GET /plain 101", "GET /plain 200")},
		{name: "RequestLogger",
			mw: middleware.RequestLoggerWithConfig(middleware.RequestLoggerConfig{
				LogStatus: true, LogURI: true, LogMethod: true, HandleError: true,
				LogValuesFunc: func(c echo.Context, v middleware.RequestLoggerValues) error {
					fmt.Fprintf(requestLoggerOut, "%s %s %d\n", v.Method, v.URI, v.Status)
					return nil
				},
			}),
			check: logged(requestLoggerOut, "GET /ws 101", "GET /any 101", "GET /plain 101", "GET /plain 200")},
		{name: "Recover", mw: middleware.Recover()},
		{name: "Secure", mw: middleware.Secure(), check: both(header101("X-Frame-Options", "SAMEORIGIN"), not101("X-Content-Type-Options"))},
		{name: "Content fields", mw: func(next echo.HandlerFunc) echo.HandlerFunc {
			return func(c echo.Context) error {
				if negotiate.IsUpgrade(c.Request()) {
					h := c.Response().Header()
					h.Set("Content-Type", "text/plain")
					h.Set("Content-Length", "12")
					h.Set("X-Kept", "yes")
				}
				return next(c)
			}
		}, check: both(not101("Content-Type"), not101("Content-Length"), header101("X-Kept", "yes"))},
		{name: "CORS", mw: middleware.CORS(), header: http.Header{"Origin": {"ORIGIN"}}, check: header101("Access-Control-Allow-Origin", "*")},
		{name: "BodyLimit", mw: middleware.BodyLimit("1K"), check: func(t *testing.T, a *testApp, _ switches) {
			resp, err := http.Post(a.url+"/body", "text/plain", strings.NewReader(strings.Repeat("x", 2048)))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if got, want := resp.StatusCode, http.StatusRequestEntityTooLarge; got != want {
				t.Errorf("POST of 2 KiB: got %d, want %d (BodyLimit in force)", got, want)
			}
		}},
		{name: "RequestID", mw: middleware.RequestID(), check: header101(echo.HeaderXRequestID, "")},
		{name: "Gzip", mw: middleware.Gzip(), header: http.Header{"Accept-Encoding": {"gzip"}}},
		{name: "Response.Before", mw: func(next echo.HandlerFunc) echo.HandlerFunc {
			return func(c echo.Context) error {
				res := c.Response()
				res.Before(func() { res.Header().Set("X-Before", fmt.Sprint("status ", res.Status)) })
				return next(c)
			}
		}, check: header101("X-Before", "status 101")},
		// The switched connections outlive the request's deadline.
		{name: "ContextTimeout", mw: middleware.ContextTimeout(20 * time.Millisecond), pause: 80 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := newApp(t, tt.mw)
			h := tt.header.Clone()
			if h.Get("Origin") == "ORIGIN" {
				h.Set("Origin", a.url) // same origin: the WebSocket accepts it
			}
			var s switches
			var ws *gws.Conn
			ws, s.ws = wstest.Dial(t, nil, wstest.URL(a.url, "/ws"), h)
			stream, streamResp := testkit.Dial(t, a.url+"/any", []string{"echo/1"}, h)
			s.stream = streamResp
			var extra []string
			for k, vs := range h {
				for _, v := range vs {
					extra = append(extra, k+": "+v)
				}
			}
			h2, first, conn := adaptertest.DialH2C(t, a.addr(), "/plain", extra...)
			s.h2c = h2.Upgrade
			if first.Status != 200 {
				t.Errorf("h2c stream 1 GET /plain: status %d", first.Status)
			}
			if tt.pause > 0 {
				time.Sleep(tt.pause) // past the request's deadline
			}
			wstest.WantEcho(t, ws, gws.TextMessage, []byte("through "+tt.name))
			wstest.WantEcho(t, ws, gws.BinaryMessage, []byte("\x00\xff"))
			adaptertest.StreamRoundTrip(t, stream, "through "+tt.name)
			if r, err := h2.Get("/plain"); err != nil || r.Status != 200 {
				t.Errorf("h2c GET /plain: %v, %v", r, err)
			}
			if code, body, _ := adaptertest.Get(t, "GET", a.url+"/plain", nil); code != 200 || body != "plain HTTP/1.1" {
				t.Errorf("GET /plain: got %d %q, want 200", code, body)
			}
			wstest.CloseNormally(t, ws)
			stream.Close()
			conn.Close()
			testkit.WaitFor(t, "switched connections to close", func() bool {
				s := a.n.Stats()
				return s.Active["websocket"] == 0 && s.Active["echo"] == 0 && s.Active["h2c"] == 0
			})
			if tt.check != nil {
				tt.check(t, a, s)
			}
		})
	}
}

// Echo's deprecated Timeout middleware runs handlers behind
// http.TimeoutHandler, whose writer cannot hijack: the upgrade is refused
// with 500 and a reason that says so, and nothing switches.
func TestTimeoutMiddlewareCannotHijack(t *testing.T) {
	t.Parallel()
	//lint:ignore SA1019 the deprecated Timeout middleware is the one under test: it cannot hijack, and the refusal says so
	a := newApp(t, middleware.TimeoutWithConfig(middleware.TimeoutConfig{Timeout: testkit.Timeout}))
	wantWords := []string{"Timeout middleware", "ContextTimeout", "Hijack"}

	ctx, cancel := context.WithTimeout(context.Background(), testkit.Timeout)
	defer cancel()
	c, _, err := negotiate.Dial(ctx, a.url+"/any", []string{"echo/1"}, nil)
	var e *negotiate.Error
	if !errors.As(err, &e) {
		if c != nil {
			c.Close()
		}
		t.Fatalf("echo/1 behind middleware.Timeout: %v, want a refusal", err)
	}
	if got, want := e.Status, http.StatusInternalServerError; got != want {
		t.Errorf("echo/1 refusal status = %d, want %d", got, want)
	}
	for _, w := range wantWords {
		if !strings.Contains(e.Reason, w) {
			t.Errorf("echo/1 refusal reason %q does not mention %q", e.Reason, w)
		}
	}

	ws, resp := wstest.TryDial(t, nil, wstest.URL(a.url, "/ws"), nil)
	if ws != nil {
		t.Fatal("websocket behind middleware.Timeout switched")
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if got, want := resp.StatusCode, http.StatusInternalServerError; got != want {
		t.Errorf("websocket refusal status = %d, want %d", got, want)
	}
	for _, w := range wantWords {
		if !strings.Contains(string(body), w) {
			t.Errorf("websocket refusal %q does not mention %q", body, w)
		}
	}
	if s := a.n.Stats(); s.Switched["echo"] != 0 || s.Switched["websocket"] != 0 {
		t.Errorf("switched = %v, want nothing", s.Switched)
	}
}
