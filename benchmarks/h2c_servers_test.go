package benchmarks

import (
	"net/http"
	"net/http/httptest"

	"golang.org/x/net/http2"
	//lint:ignore SA1019 the deprecated handler is the peer being measured
	xh2c "golang.org/x/net/http2/h2c"

	"github.com/switchyard-http/switchyard/h2c"
	"github.com/switchyard-http/switchyard/negotiate"
)

// An h2cServer is one way to serve cleartext HTTP/2 from a net/http
// server, every one with the same handler (h2cApp) on httptest.NewServer.
type h2cServer struct {
	name    string
	upgrade bool // reached by Upgrade: h2c; otherwise prior knowledge
	// start returns the running server and a func that releases what it
	// holds besides the server (nil if nothing).
	start func() (*httptest.Server, func(), error)
}

var h2cServers = []h2cServer{
	{"switchyard", true, switchyardH2C},
	{"xnet-h2c", true, xnetH2C},
	{"prior-knowledge", false, priorKnowledge},
}

// h2cApp is the small GET handler every server serves.
func h2cApp(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write(h2cBody)
}

// switchyardH2C is Switchyard's h2c protocol with its defaults, mounted as
// middleware around the app, as the package documentation shows; the app
// serves the upgraded connections' streams.
func switchyardH2C() (*httptest.Server, func(), error) {
	n, err := negotiate.New(nil)
	if err != nil {
		return nil, nil, err
	}
	p, err := h2c.New(nil)
	if err != nil {
		return nil, nil, err
	}
	var reg negotiate.Registry
	reg.Register("h2c", p)
	release := func() {
		ctx, cancel := shutdownContext()
		defer cancel()
		_ = n.Shutdown(ctx)
	}
	return httptest.NewServer(n.Middleware(&reg)(http.HandlerFunc(h2cApp))), release, nil
}

// xnetH2C is golang.org/x/net/http2/h2c's NewHandler (deprecated, and the
// handler a user of x/net would otherwise pick) with a zero http2.Server.
func xnetH2C() (*httptest.Server, func(), error) {
	//lint:ignore SA1019 the deprecated handler is the peer being measured
	h := xh2c.NewHandler(http.HandlerFunc(h2cApp), &http2.Server{})
	return httptest.NewServer(h), nil, nil
}

// priorKnowledge is net/http's own cleartext HTTP/2: Server.Protocols with
// UnencryptedHTTP2, connections that open with the preface.
func priorKnowledge() (*httptest.Server, func(), error) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(h2cApp))
	p := new(http.Protocols)
	p.SetHTTP1(true)
	p.SetUnencryptedHTTP2(true)
	srv.Config.Protocols = p
	srv.Start()
	return srv, nil, nil
}
