package main

import (
	"io"
	"log/slog"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/switchyard-http/switchyard/echoadapter"
	"github.com/switchyard-http/switchyard/h2c"
	"github.com/switchyard-http/switchyard/internal/demo"
	"github.com/switchyard-http/switchyard/negotiate"
)

// app is the demo's Echo and the negotiator all its mounts share.
type app struct {
	n *negotiate.Negotiator
	e *echo.Echo
}

// newApp wires the demo (see internal/demo) on Echo: the page and plain
// routes, WebSocket on /ws and /chat, h2c and echo/1 on any path through
// the adapter's middleware, whose h2c streams are served by e itself, so
// they go through Echo's router and middleware too.
func newApp(logger *slog.Logger, errOut io.Writer) (*app, error) {
	d, err := demo.New(logger)
	if err != nil {
		return nil, err
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.Logger.SetOutput(errOut) // standard output carries only the "listening on" line

	e.Use(echoadapter.Middleware(d.N, d.AnyPath))
	getOrHead := []string{http.MethodGet, http.MethodHead}
	e.Match(getOrHead, "/", echo.WrapHandler(http.HandlerFunc(demo.ServePage)))
	e.Match(getOrHead, "/proto", echo.WrapHandler(http.HandlerFunc(demo.Proto)))
	e.POST("/echo", echo.WrapHandler(http.HandlerFunc(demo.Echo)))
	e.Match(getOrHead, "/stats", echo.WrapHandler(http.HandlerFunc(d.Stats)))
	// Any method: the WebSocket protocol answers a PUT with its own 405.
	e.Any("/ws", echoadapter.Handler(d.N, d.WS))
	e.Any("/chat", echoadapter.Handler(d.N, d.Chat))
	return &app{n: d.N, e: e}, nil
}

// configure sets Echo's server up: the Echo handler, prior-knowledge
// HTTP/2, and the negotiator's shutdown tied to e.Shutdown.
func (a *app) configure(srv *http.Server) {
	srv.Handler = a.e
	h2c.ConfigureServer(srv)
	a.n.RegisterOnShutdown(srv) // e.Shutdown also starts closing switched connections
}
