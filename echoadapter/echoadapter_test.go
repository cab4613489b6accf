package echoadapter_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/switchyard-http/switchyard/echoadapter"
	"github.com/switchyard-http/switchyard/internal/adaptertest"
	"github.com/switchyard-http/switchyard/internal/testkit"
	"github.com/switchyard-http/switchyard/negotiate"
)

// After a switch the echo.Response is committed with 101: an error
// returned after the switch reaches Echo's error handler without anything
// being written to the switched connection.
func TestErrorAfterSwitch(t *testing.T) {
	t.Parallel()
	n, reg, e := newParts(t)
	type seen struct {
		committed bool
		status    int
		writeErr  error
	}
	handled := make(chan seen, 1)
	e.HTTPErrorHandler = func(err error, c echo.Context) {
		// A careless handler that writes whatever the state.
		res := c.Response()
		s := seen{committed: res.Committed, status: res.Status}
		s.writeErr = c.String(http.StatusInternalServerError, err.Error())
		handled <- s
	}
	h := echoadapter.Handler(n, reg)
	e.GET("/up", func(c echo.Context) error {
		if err := h(c); err != nil {
			return err
		}
		return errors.New("the application failed after the switch")
	})
	a := startApp(t, e, n)
	c, _ := testkit.Dial(t, a.url+"/up", []string{"echo/1"}, nil)
	adaptertest.StreamRoundTrip(t, c, "ping")
	select {
	case s := <-handled:
		if !s.committed || s.status != http.StatusSwitchingProtocols {
			t.Errorf("error handler saw committed=%v status=%d, want committed with 101", s.committed, s.status)
		}
		if !errors.Is(s.writeErr, http.ErrHijacked) {
			t.Errorf("write after the switch: got %v, want http.ErrHijacked", s.writeErr)
		}
	case <-time.After(testkit.Timeout):
		t.Fatal("the error after the switch never reached Echo's error handler")
	}
	// Nothing the error handler wrote reached the connection.
	adaptertest.StreamRoundTrip(t, c, "still echo/1")
}

func TestSkipper(t *testing.T) {
	t.Parallel()
	n, reg, e := newParts(t)
	e.Use(echoadapter.MiddlewareWithConfig(echoadapter.Config{
		Negotiator: n,
		Registry:   reg,
		Skipper:    func(c echo.Context) bool { return strings.HasPrefix(c.Request().URL.Path, "/skip") },
	}))
	e.GET("/skip", func(c echo.Context) error { return c.String(http.StatusOK, "skipped") })
	a := startApp(t, e, n)
	code, body, _ := adaptertest.Get(t, "GET", a.url+"/skip", http.Header{"Connection": {"Upgrade"}, "Upgrade": {"echo/1"}})
	if code != 200 || body != "skipped" {
		t.Errorf("echo/1 offer on /skip: got %d %q, want 200 %q", code, body, "skipped")
	}
	c, _ := testkit.Dial(t, a.url+"/other", []string{"echo/1"}, nil)
	adaptertest.StreamRoundTrip(t, c, "not skipped")
}

func TestConfigValidation(t *testing.T) {
	t.Parallel()
	n, err := negotiate.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	reg := new(negotiate.Registry)
	for _, cfg := range []echoadapter.Config{{}, {Negotiator: n}, {Registry: reg}} {
		if mw, err := cfg.ToMiddleware(); err == nil || mw != nil {
			t.Errorf("ToMiddleware(%+v) = %v, %v; want an error", cfg, mw != nil, err)
		}
	}
	if mw, err := (echoadapter.Config{Negotiator: n, Registry: reg}).ToMiddleware(); err != nil || mw == nil {
		t.Errorf("ToMiddleware of a valid config: %v", err)
	}
	for name, f := range map[string]func(){
		"MiddlewareWithConfig": func() { echoadapter.MiddlewareWithConfig(echoadapter.Config{}) },
		"Middleware":           func() { echoadapter.Middleware(nil, reg) },
		"Handler(n, nil)":      func() { echoadapter.Handler(n, nil) },
		"Handler(nil, reg)":    func() { echoadapter.Handler(nil, reg) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s with an invalid config did not panic", name)
				}
			}()
			f()
		}()
	}
}

func TestPassThroughDoesNotAllocate(t *testing.T) {
	n, err := negotiate.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	reg := new(negotiate.Registry)
	reg.HandleFunc("echo/1", testkit.EchoConn)
	e := echo.New()
	h := echoadapter.Middleware(n, reg)(func(echo.Context) error { return nil })
	plain := httptest.NewRequest("GET", "/", nil)
	unknown := httptest.NewRequest("GET", "/", nil)
	unknown.Header.Set("Connection", "Upgrade")
	unknown.Header.Set("Upgrade", "foo")
	for name, r := range map[string]*http.Request{"plain": plain, "unknown token": unknown} {
		c := e.NewContext(r, httptest.NewRecorder())
		if got := testing.AllocsPerRun(100, func() { _ = h(c) }); got != 0 {
			t.Errorf("%s: %v allocations per request, want 0", name, got)
		}
	}
}

// h2c streams are served by the server's Handler, the *echo.Echo: through
// Echo's Pre middleware, router and middleware, as HTTP/2 requests, whether
// the adapter is mounted with e.Use or e.Pre.
func TestH2CStreamsGoThroughEcho(t *testing.T) {
	t.Parallel()
	for _, mount := range []string{"Use", "Pre"} {
		t.Run(mount, func(t *testing.T) {
			t.Parallel()
			n, reg, e := newParts(t)
			reg.Register("h2c", adaptertest.H2C(t))
			var pre, routed atomic.Int64
			isHTTP2 := func(r *http.Request) bool { return r.ProtoMajor == 2 }
			e.Pre(counting(&pre, isHTTP2))
			if mount == "Pre" {
				e.Pre(echoadapter.Middleware(n, reg))
			}
			e.Use(counting(&routed, isHTTP2))
			if mount == "Use" {
				e.Use(echoadapter.Middleware(n, reg))
			}
			e.GET("/proto", func(c echo.Context) error { return c.String(http.StatusOK, c.Request().Proto) })
			e.POST("/body", echoBody)
			a := startApp(t, e, n)
			cl, first, _ := adaptertest.DialH2C(t, a.addr(), "/proto")
			if got, want := string(first.Body), "HTTP/2.0"; got != want {
				t.Errorf("stream 1 /proto = %q, want %q", got, want)
			}
			r, err := cl.Do("POST", "/body", []byte("over h2"))
			if err != nil || string(r.Body) != "over h2" {
				t.Errorf("POST /body over the upgraded connection: %v, %v; want %q", r, err, "over h2")
			}
			if pre.Load() != 2 || routed.Load() != 2 {
				t.Errorf("HTTP/2 requests seen by Pre = %d, after routing = %d; want 2 and 2", pre.Load(), routed.Load())
			}
		})
	}
}

// Mounted with e.Pre, the middleware switches before routing.
func TestPreMiddleware(t *testing.T) {
	t.Parallel()
	n, reg, e := newParts(t)
	var routed atomic.Int64
	e.Pre(echoadapter.Middleware(n, reg))
	e.Use(counting(&routed, nil))
	e.GET("/plain", func(c echo.Context) error { return c.String(http.StatusOK, "plain") })
	a := startApp(t, e, n)
	c, _ := testkit.Dial(t, a.url+"/nowhere", []string{"echo/1"}, nil)
	adaptertest.StreamRoundTrip(t, c, "before routing")
	if code, body, _ := adaptertest.Get(t, "GET", a.url+"/plain", nil); code != 200 || body != "plain" {
		t.Errorf("GET /plain: got %d %q, want 200 %q", code, body, "plain")
	}
	if got, want := routed.Load(), int64(1); got != want {
		t.Errorf("requests past routing = %d, want %d (the plain one only)", got, want)
	}
}

// counting is a middleware that counts in n the requests that pass it and
// match (nil: every request).
func counting(n *atomic.Int64, match func(*http.Request) bool) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if match == nil || match(c.Request()) {
				n.Add(1)
			}
			return next(c)
		}
	}
}
