package echoadapter

import (
	"errors"
	"net/http"
	"sync"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/switchyard-http/switchyard/negotiate"
)

// Config configures the middleware and the handler. Negotiator and
// Registry are required; every other field has a default.
type Config struct {
	// Skipper, when it returns true, sends the request to the next handler
	// as ordinary HTTP. It is asked about upgrade requests only, so plain
	// requests cost it nothing. Default: never skip
	// (middleware.DefaultSkipper). The handler ignores it: a route that
	// requires an upgrade answers 426 to whatever does not switch.
	Skipper middleware.Skipper

	// Negotiator holds what the mounts share: the live switched
	// connections, limits, hooks, statistics and the shutdown. Tie it to
	// the server with n.RegisterOnShutdown(e.Server). Required.
	Negotiator *negotiate.Negotiator

	// Registry holds the protocols this mount switches to. Required.
	Registry *negotiate.Registry
}

// errConfig is returned by ToMiddleware and ToHandler for a Config
// without its Negotiator or Registry.
var errConfig = errors.New("echoadapter: Config needs a Negotiator and a Registry")

func (config Config) validate() (Config, error) {
	if config.Negotiator == nil || config.Registry == nil {
		return config, errConfig
	}
	if config.Skipper == nil {
		config.Skipper = middleware.DefaultSkipper
	}
	return config, nil
}

// Middleware returns the middleware of [Config.ToMiddleware] for n and reg
// with the default Skipper.
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
// protocol of the Registry, on any route (mount it with e.Use, or e.Pre to
// switch before routing). A request that is not an upgrade, or offers only
// tokens the Registry does not have (or that its protocols ignore), goes on
// to the next handler as ordinary HTTP; neither path allocates.
//
// A refusal is written through c.Response() (Echo's loggers see its
// status), and the middleware returns nil. After a switch c.Response() is
// committed with status 101, and the middleware returns nil as soon as the
// connection has switched: the protocol runs on in a goroutine of its own,
// so Echo's loggers log the 101 at the switch and the pooled echo.Context
// goes back to its pool. Protocols that carry HTTP (h2c) serve
// their requests with c.Echo(), through Echo's router and middleware again.
func (config Config) ToMiddleware() (echo.MiddlewareFunc, error) {
	config, err := config.validate()
	if err != nil {
		return nil, err
	}
	n, reg, skip := config.Negotiator, config.Registry, config.Skipper
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			r := c.Request()
			if !negotiate.IsUpgrade(r) || skip(c) {
				return next(c)
			}
			w := writers.Get().(*responseWriter)
			w.res = c.Response()
			switched := n.Upgrade(w, r, reg, c.Echo())
			w.res = nil // the negotiator keeps no writer once Upgrade returns
			writers.Put(w)
			if switched {
				return nil
			}
			return next(c)
		}
	}, nil
}

// Handler returns the handler of [Config.ToHandler] for n and reg. It panics
// if either is nil.
func Handler(n *negotiate.Negotiator, reg *negotiate.Registry) echo.HandlerFunc {
	h, err := Config{Negotiator: n, Registry: reg}.ToHandler()
	if err != nil {
		panic(err)
	}
	return h
}

// ToHandler returns a handler for routes that require an upgrade
// (e.GET("/ws", h)): it switches requests that offer a protocol of the
// Registry and answers every other request 426 Upgrade Required, with
// Upgrade listing the Registry's tokens, as [negotiate.Negotiator.Endpoint]
// does. It returns nil to Echo in every case: refusals are written, and a
// switched response is committed with status 101. As at an Endpoint,
// [negotiate.Conn.Next] is nil here.
func (config Config) ToHandler() (echo.HandlerFunc, error) {
	config, err := config.validate()
	if err != nil {
		return nil, err
	}
	endpoint := config.Negotiator.Endpoint(config.Registry)
	return func(c echo.Context) error {
		endpoint.ServeHTTP(&responseWriter{res: c.Response()}, c.Request())
		return nil
	}, nil
}

// writers keeps an upgrade request that does not switch (an unknown
// token) from allocating.
var writers = sync.Pool{New: func() any { return new(responseWriter) }}

var _ http.ResponseWriter = (*responseWriter)(nil)
