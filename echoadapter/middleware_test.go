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

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/switchyard-http/switchyard/internal/adaptertest"
	"github.com/switchyard-http/switchyard/internal/testkit"
	"github.com/switchyard-http/switchyard/internal/wstest"
	"github.com/switchyard-http/switchyard/negotiate"
)

// Each of Echo's own middleware in front of the adapter, with a real
// WebSocket (the websocket package's engine), a real echo/1 and a real h2c
// switch through it.
func TestEchoMiddlewareInFront(t *testing.T) {
	t.Parallel()
	loggerOut, requestLoggerOut := new(testkit.LockedBuffer), new(testkit.LockedBuffer)
	tests := []struct {
		name   string
		mw     echo.MiddlewareFunc
		header http.Header // sent with each upgrade request
		pause  time.Duration
		check  adaptertest.Check
	}{
		{name: "Logger",
			//lint:ignore SA1019 Echo's Logger is deprecated but still in use; it must log 101 too
			mw:    middleware.LoggerWithConfig(middleware.LoggerConfig{Format: "${method} ${uri} ${status}\n", Output: loggerOut}),
			check: adaptertest.LoggedSwitches(loggerOut)},
		{name: "RequestLogger",
			mw: middleware.RequestLoggerWithConfig(middleware.RequestLoggerConfig{
				LogStatus: true, LogURI: true, LogMethod: true, HandleError: true,
				LogValuesFunc: func(c echo.Context, v middleware.RequestLoggerValues) error {
					fmt.Fprintf(requestLoggerOut, "%s %s %d\n", v.Method, v.URI, v.Status)
					return nil
				},
			}),
			check: adaptertest.LoggedSwitches(requestLoggerOut)},
		{name: "Recover", mw: middleware.Recover()},
		{name: "Secure", mw: middleware.Secure(), check: adaptertest.All(adaptertest.Field101("X-Frame-Options", "SAMEORIGIN"), adaptertest.NoField101("X-Content-Type-Options"))},
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
		}, check: adaptertest.All(adaptertest.NoField101("Content-Type"), adaptertest.NoField101("Content-Length"), adaptertest.Field101("X-Kept", "yes"))},
		{name: "CORS", mw: middleware.CORS(), header: http.Header{"Origin": {"ORIGIN"}}, check: adaptertest.Field101("Access-Control-Allow-Origin", "*")},
		{name: "BodyLimit", mw: middleware.BodyLimit("1K"), check: adaptertest.BodyLimited},
		{name: "RequestID", mw: middleware.RequestID(), check: adaptertest.Field101(echo.HeaderXRequestID, "")},
		{name: "Gzip", mw: middleware.Gzip(), header: http.Header{"Accept-Encoding": {"gzip"}}},
		{name: "Response.Before", mw: func(next echo.HandlerFunc) echo.HandlerFunc {
			return func(c echo.Context) error {
				res := c.Response()
				res.Before(func() { res.Header().Set("X-Before", fmt.Sprint("status ", res.Status)) })
				return next(c)
			}
		}, check: adaptertest.Field101("X-Before", "status 101")},
		// The switched connections outlive the request's deadline.
		{name: "ContextTimeout", mw: middleware.ContextTimeout(20 * time.Millisecond), pause: 80 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newApp(t, tt.mw).server()
			sw := adaptertest.SwitchAll(t, s, tt.header, tt.pause)
			if tt.check != nil {
				tt.check(t, s, sw)
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
