package benchmarks

import (
	"context"
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"

	"github.com/switchyard-http/switchyard/internal/testkit"
	"github.com/switchyard-http/switchyard/internal/wstest"
	"github.com/switchyard-http/switchyard/negotiate"
	"github.com/switchyard-http/switchyard/websocket"
)

// wsServers is one Switchyard WebSocket echo endpoint (websocket.New with
// its default options, on a negotiator's Endpoint) served by two
// httptest servers on 127.0.0.1: tcp speaks HTTP/1.1 and prior-knowledge
// h2c, tls speaks HTTP/1.1 and h2 (ALPN). The same handler answers every
// transport.
type wsServers struct {
	n        *negotiate.Negotiator
	tcp, tls *httptest.Server
	tlsConf  *tls.Config // the client's: trusts tls's certificate
	before   int         // goroutines before the servers started
}

func startWSServers(tb testing.TB) *wsServers {
	tb.Helper()
	s := &wsServers{before: runtime.NumGoroutine()}
	p, err := websocket.New(nil, wstest.Echo)
	if err != nil {
		tb.Fatal(err)
	}
	if s.n, err = negotiate.New(nil); err != nil {
		tb.Fatal(err)
	}
	var reg negotiate.Registry
	reg.Register("websocket", p)
	h := s.n.Endpoint(&reg)

	s.tcp = httptest.NewUnstartedServer(h)
	s.tcp.Config.Protocols = new(http.Protocols)
	s.tcp.Config.Protocols.SetHTTP1(true)
	s.tcp.Config.Protocols.SetUnencryptedHTTP2(true)
	s.tcp.Start()

	s.tls = httptest.NewUnstartedServer(h)
	s.tls.EnableHTTP2 = true
	s.tls.StartTLS()
	s.tlsConf = s.tls.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
	s.tlsConf.ServerName = "127.0.0.1" // the test certificate's IP address
	return s
}

// stop shuts the negotiator down (which ends the WebSockets still open),
// closes both servers and waits until every goroutine they started has
// ended. The clients' connections should be closed first.
func (s *wsServers) stop(tb testing.TB) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = s.n.Shutdown(ctx)
	for _, srv := range []*httptest.Server{s.tcp, s.tls} {
		srv.CloseClientConnections()
		srv.Close()
	}
	testkit.WaitFor(tb, "the servers' goroutines to end", func() bool { return runtime.NumGoroutine() <= s.before })
}

// A wsSession is one open WebSocket of the client.
type wsSession interface {
	echo(wsMessage) error
	close() error // the closing handshake and the end of the connection or stream
}

// A wsTransport opens WebSockets over one transport. conn opens what the
// sessions share (the HTTP/2 connection; nothing for HTTP/1.1, where every
// session is a connection of its own) and returns a func that opens a
// session and one that closes what conn opened.
type wsTransport struct {
	name string
	h2   bool // sessions are extended CONNECT streams
	conn func(s *wsServers) (open func() (wsSession, error), done func(), err error)
}

var wsTransports = []wsTransport{
	{"h1", false, h1Transport(false, false)},
	{"h1-tls", false, h1Transport(true, false)},
	{"h2c", true, h2Transport(false)},
	{"h2", true, h2Transport(true)},
}

// h1Transport dials a new connection per session (TCP, or TLS: a full
// handshake every time unless resume, where the client keeps the server's
// session tickets).
func h1Transport(useTLS, resume bool) func(*wsServers) (func() (wsSession, error), func(), error) {
	return func(s *wsServers) (func() (wsSession, error), func(), error) {
		var d *h1Dialer
		if useTLS {
			conf := s.tlsConf.Clone()
			if resume {
				conf.ClientSessionCache = tls.NewLRUClientSessionCache(4)
			}
			d = newH1Dialer(s.tls.Listener.Addr().String(), conf)
		} else {
			d = newH1Dialer(s.tcp.Listener.Addr().String(), nil)
		}
		return func() (wsSession, error) { return d.dial() }, func() {}, nil
	}
}

// h2Transport dials one HTTP/2 connection (TLS h2, or prior-knowledge h2c)
// whose sessions are streams.
func h2Transport(useTLS bool) func(*wsServers) (func() (wsSession, error), func(), error) {
	return func(s *wsServers) (func() (wsSession, error), func(), error) {
		d := newXCDialer(s.tcp.Listener.Addr().String(), nil)
		if useTLS {
			d = newXCDialer(s.tls.Listener.Addr().String(), s.tlsConf)
		}
		c, err := d.dial()
		if err != nil {
			return nil, nil, err
		}
		return func() (wsSession, error) { return c.open() }, c.close, nil
	}
}
