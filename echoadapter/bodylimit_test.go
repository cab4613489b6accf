package echoadapter_test

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/switchyard-http/switchyard/echoadapter"
	"github.com/switchyard-http/switchyard/internal/testkit"
	"github.com/switchyard-http/switchyard/negotiate"
)

// streamSkipper is the Skipper the package documentation gives BodyLimit
// and BodyDump: it passes by the extended CONNECTs whose body is the
// stream, and nothing else.
func streamSkipper(c echo.Context) bool {
	r := c.Request()
	return r.ProtoMajor != 1 && negotiate.IsUpgrade(r)
}

// TestBodyLimitSkipperKeepsOffersOverHTTP1: with the documented Skipper,
// an HTTP/1.1 request that offers a protocol nobody registered (any client
// may add Connection: Upgrade and Upgrade: x) goes on as ordinary HTTP and
// still meets BodyLimit. The Skipper the documentation gave,
// negotiate.IsUpgrade, passed every such request by, and the POST handler
// behind it read a body of any size. TestXConnectThroughEchoMiddleware
// checks that the same Skipper lets HTTP/2 streams through.
func TestBodyLimitSkipperKeepsOffersOverHTTP1(t *testing.T) {
	n, reg, e := newParts(t)
	e.Use(middleware.BodyLimitWithConfig(middleware.BodyLimitConfig{Limit: "1K", Skipper: streamSkipper}))
	e.Use(echoadapter.Middleware(n, reg))
	e.POST("/upload", func(c echo.Context) error {
		b, err := io.ReadAll(c.Request().Body)
		if err != nil {
			return err
		}
		return c.String(http.StatusOK, strconv.Itoa(len(b)))
	})
	srv := testkit.StartServer(t, e)
	body := strings.Repeat("b", 64<<10)
	for _, h := range []http.Header{
		nil,
		{"Connection": {"Upgrade"}, "Upgrade": {"not-registered"}},
	} {
		resp, got := testkit.Do(t, http.MethodPost, srv.URL+"/upload", h, strings.NewReader(body))
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("POST of %d bytes with %v: %s %q, want 413 from BodyLimit", len(body), h, resp.Status, got)
		}
	}
	// An offer that switches still switches with the limit in front.
	conn, _ := testkit.Dial(t, srv.URL+"/", []string{"echo/1"}, nil)
	if got := testkit.RoundTrip(t, conn, "hello"); got != "hello" {
		t.Errorf("echo/1 echoed %q", got)
	}
}
