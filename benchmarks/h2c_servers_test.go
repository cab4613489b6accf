package benchmarks

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"golang.org/x/net/http2"
	//lint:ignore SA1019 the deprecated handler is the peer being measured
	xh2c "golang.org/x/net/http2/h2c"

	"github.com/switchyard-http/switchyard/h2c"
	"github.com/switchyard-http/switchyard/negotiate"
)

// An h2cServer is one way to serve cleartext HTTP/2 from a net/http
// server, every one with the same handler (h2cApp) on an httptest server.
type h2cServer struct {
	name    string
	upgrade bool // reached by Upgrade: h2c; otherwise prior knowledge
	// handler returns the server's handler and a func that releases what
	// it holds besides the server (nil if nothing); configure, if not
	// nil, sets up the http.Server.
	handler   func() (http.Handler, func(), error)
	configure func(*http.Server)
}

var h2cServers = []h2cServer{
	{"switchyard", true, switchyardH2C, nil},
	{"xnet-h2c", true, xnetH2C, nil},
	{"prior-knowledge", false, func() (http.Handler, func(), error) { return http.HandlerFunc(h2cApp), nil, nil }, priorKnowledge},
}

// start serves s; see serve.
func (s h2cServer) start(tb testing.TB) (*httptest.Server, func()) {
	tb.Helper()
	return serve(tb, s.handler, s.configure)
}

// h2cApp is the small GET handler every server serves.
func h2cApp(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write(h2cBody)
}

// switchyardH2C is Switchyard's h2c protocol with its defaults, mounted as
// middleware around the app, as the package documentation shows; the app
// serves the upgraded connections' streams.
func switchyardH2C() (http.Handler, func(), error) {
	p, err := h2c.New(nil)
	if err != nil {
		return nil, nil, err
	}
	return negotiated("h2c", p, func(n *negotiate.Negotiator, reg *negotiate.Registry) http.Handler {
		return n.Middleware(reg)(http.HandlerFunc(h2cApp))
	})
}

// xnetH2C is golang.org/x/net/http2/h2c's NewHandler (deprecated, and the
// handler a user of x/net would otherwise pick) with a zero http2.Server.
func xnetH2C() (http.Handler, func(), error) {
	//lint:ignore SA1019 the deprecated handler is the peer being measured
	return xh2c.NewHandler(http.HandlerFunc(h2cApp), &http2.Server{}), nil, nil
}

// priorKnowledge is net/http's own cleartext HTTP/2: Server.Protocols with
// UnencryptedHTTP2, connections that open with the preface.
func priorKnowledge(srv *http.Server) {
	p := new(http.Protocols)
	p.SetHTTP1(true)
	p.SetUnencryptedHTTP2(true)
	srv.Protocols = p
}
