package main

import (
	"log/slog"
	"net/http"

	"github.com/switchyard-http/switchyard/h2c"
	"github.com/switchyard-http/switchyard/internal/demo"
	"github.com/switchyard-http/switchyard/negotiate"
)

// app is the demo's handler and the negotiator all its mounts share.
type app struct {
	n       *negotiate.Negotiator
	handler http.Handler
}

// newApp wires the demo (see internal/demo): the page and plain routes,
// WebSocket on /ws and /chat, h2c and echo/1 on any path.
func newApp(logger *slog.Logger) (*app, error) {
	d, err := demo.New(logger)
	if err != nil {
		return nil, err
	}
	return &app{n: d.N, handler: d.Handler()}, nil
}

// configure sets the server up for prior-knowledge HTTP/2 too.
func (a *app) configure(srv *http.Server) { h2c.ConfigureServer(srv) }
