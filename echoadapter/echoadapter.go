package echoadapter

import (
	"errors"
	"fmt"
	"net/http"
	"sync"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/switchyard-http/switchyard/negotiate"
)

// Config configures the middleware. Negotiator (made by negotiate.New) and
// Registry are required; Skipper has a default.
type Config struct {
	// Skipper, when it returns true, sends the request to the next handler
	// as ordinary HTTP. It is asked about upgrade requests only, so plain
	// requests cost it nothing. Default: never skip
	// (middleware.DefaultSkipper).
	Skipper middleware.Skipper

	// Negotiator holds what the mounts share: the live switched
	// connections, limits, hooks, statistics and the shutdown. Make it
	// with negotiate.New and tie it to the server with
	// n.RegisterOnShutdown(e.Server). Required.
	Negotiator *negotiate.Negotiator

	// Registry holds the protocols this mount switches to. Required.
	Registry *negotiate.Registry
}

// errConfig is returned by ToMiddleware for a Config without its
// Negotiator or Registry.
var errConfig = errors.New("echoadapter: Config needs a Negotiator and a Registry")

// Middleware returns the middleware of [Config.ToMiddleware] for n and reg
// with the default Skipper. It panics if n or reg is nil, or if n was not
// made by negotiate.New.
func Middleware(n *negotiate.Negotiator, reg *negotiate.Registry) echo.MiddlewareFunc {
	return MiddlewareWithConfig(Config{Negotiator: n, Registry: reg})
}

// MiddlewareWithConfig returns the middleware of [Config.ToMiddleware]. It
// panics on an invalid config, as Echo's own WithConfig functions do.
func MiddlewareWithConfig(config Config) echo.MiddlewareFunc {
	mw, err := config.ToMiddleware()
	if err != nil {
		panic(err)
	}
	return mw
}

// ToMiddleware returns middleware that switches requests offering a
// protocol of the Registry, and returns an error for an invalid config
// instead of panicking. Mounted with e.Use it switches on every route
// (and where no route matches); with e.Pre, before routing. A request that
// is not an upgrade, or offers only tokens the Registry does not have (or
// that its protocols ignore), goes on to the next handler as ordinary
// HTTP; neither path allocates.
//
// A refusal is written through c.Response() (Echo's loggers see its
// status), and the middleware returns nil. After a switch c.Response() is
// committed with status 101 and the middleware returns nil at once: the
// protocol runs on in a goroutine of its own, so Echo's loggers log the
// 101 at the switch and the pooled echo.Context goes back to its pool.
func (config Config) ToMiddleware() (echo.MiddlewareFunc, error) {
	if config.Negotiator == nil || config.Registry == nil {
		return nil, errConfig
	}
	if err := mountable(config.Negotiator, config.Registry); err != nil {
		return nil, err
	}
	n, reg, skip := config.Negotiator, config.Registry, config.Skipper
	if skip == nil {
		skip = middleware.DefaultSkipper
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			r := c.Request()
			if !negotiate.IsUpgrade(r) || skip(c) {
				return next(c)
			}
			w := writers.Get().(*responseWriter)
			w.res, w.stream = c.Response(), r.ProtoMajor != 1
			answered := n.Upgrade(w, r, reg)
			w.res = nil // the negotiator keeps no writer once Upgrade returns
			writers.Put(w)
			if answered {
				return nil
			}
			return next(c)
		}
	}, nil
}

// mountable reports, as an error, the panic of n.Endpoint(reg): a
// Negotiator not made by negotiate.New, which would otherwise fail inside
// the first upgrade request.
func mountable(n *negotiate.Negotiator, reg *negotiate.Registry) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("echoadapter: Config.Negotiator cannot be mounted (%v)", p)
		}
	}()
	n.Endpoint(reg)
	return nil
}

// Handler returns the handler of a route that must switch
// (e.Any("/ws", h)): it switches requests that offer a protocol of reg and
// answers every other request 426 Upgrade Required, with Upgrade listing
// reg's tokens, as [negotiate.Negotiator.Endpoint] does. It returns nil to
// Echo in every case: refusals are written through c.Response(), and a
// switched response is committed with status 101. It panics if n or reg
// is nil, or if n was not made by negotiate.New.
//
// A route that must switch ends the chain, so it is a handler rather than
// a middleware, and has nothing to configure: a Skipper would only turn
// some requests into the 426 they get anyway.
func Handler(n *negotiate.Negotiator, reg *negotiate.Registry) echo.HandlerFunc {
	if n == nil || reg == nil {
		panic(errors.New("echoadapter: Handler needs a Negotiator and a Registry"))
	}
	endpoint := n.Endpoint(reg)
	return func(c echo.Context) error {
		r := c.Request()
		endpoint.ServeHTTP(&responseWriter{res: c.Response(), stream: r.ProtoMajor != 1}, r)
		return nil
	}
}

// writers keeps an upgrade request that does not switch (an unknown
// token) from allocating.
var writers = sync.Pool{New: func() any { return new(responseWriter) }}

var _ http.ResponseWriter = (*responseWriter)(nil)
