package echoadapter_test

import (
	"io"
	"net/http"
	"strconv"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/switchyard-http/switchyard/echoadapter"
	"github.com/switchyard-http/switchyard/internal/testkit"
	"github.com/switchyard-http/switchyard/negotiate"
)

// handlerRoutes is the Skipper the package documentation gives BodyLimit
// and BodyDump, mounted behind Middleware: it passes by the routes served
// by Handler, whose streams' bytes are not a body, and nothing else.
func handlerRoutes(c echo.Context) bool {
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
		e.Use(middleware.BodyLimitWithConfig(middleware.BodyLimitConfig{Limit: "1K", Skipper: handlerRoutes}))
		e.Any("/ws", echoadapter.Handler(n, ws))
		e.Any("/upload", func(c echo.Context) error {
			if c.Request().Method == http.MethodConnect {
				// A CONNECT's body comes after its answer.
				c.Response().WriteHeader(http.StatusOK)
				c.Response().Flush()
			}
			b, err := io.ReadAll(c.Request().Body)
			if err != nil {
				return c.String(http.StatusRequestEntityTooLarge, "body too large: "+err.Error())
			}
			return c.String(http.StatusOK, strconv.Itoa(len(b)))
		})
		srv := testkit.StartH2Server(t, e, n, useTLS)
		testkit.ExpectBodyLimit(t, srv, useTLS, "/upload", map[string]string{"/upload": "echo/1", "/ws": "echo/2"})
	})
}
