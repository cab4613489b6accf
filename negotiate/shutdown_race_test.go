package negotiate_test

// A shutdown whose context ends: what it closes, over HTTP/1.1 and
// HTTP/2.

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/switchyard-http/switchyard/internal/testkit"
	"github.com/switchyard-http/switchyard/internal/xconnect"
	"github.com/switchyard-http/switchyard/negotiate"
)

// forceShutdown shuts n down with a context that has already ended: it
// stops new switches, closes the live connections and returns.
func forceShutdown(t *testing.T, n *negotiate.Negotiator) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := n.Shutdown(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Shutdown = %v, want context.Canceled", err)
	}
}

// xClient is an extended CONNECT client of srv (testkit.StartH2Server).
func xClient(t *testing.T, srv interface{ Client() *http.Client }, useTLS bool) *xconnect.Client {
	t.Helper()
	var cfg = srv.Client().Transport.(*http.Transport).TLSClientConfig
	if !useTLS {
		cfg = nil
	}
	c := xconnect.New(cfg)
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// A forced shutdown ends an HTTP/2 stream whose protocol ignores its
// Context as it ends a hijacked connection: at once, whether or not the
// protocol is reading or writing. A protocol that waits for an event
// (a push protocol) held its stream open past Shutdown's return, until the
// event came: the stream's close ended it only when the protocol returned.
func TestForcedShutdownResetsStreams(t *testing.T) {
	testkit.EachXConnect(t, func(t *testing.T, useTLS bool) {
		n := testkit.NewNegotiator(t, nil)
		event := make(chan struct{})
		reg := new(negotiate.Registry)
		reg.HandleFunc("push/1", func(c *negotiate.Conn) error {
			<-event // ignores its Context
			_, err := c.Write([]byte("event"))
			return err
		})
		srv := testkit.StartH2Server(t, n.Endpoint(reg), n, useTLS)
		t.Cleanup(func() { close(event) }) // before the cleanups above
		ctx, cancel := context.WithTimeout(context.Background(), testkit.Timeout)
		defer cancel()
		st, _, err := xClient(t, srv, useTLS).Dial(ctx, srv.URL, "push/1", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		forceShutdown(t, n)
		_ = st.SetReadDeadline(time.Now().Add(testkit.Timeout))
		b, err := io.ReadAll(st)
		var ne net.Error
		if len(b) > 0 || err == nil || errors.As(err, &ne) && ne.Timeout() {
			t.Errorf("stream after the forced shutdown: read %q, %v; want it reset", b, err)
		}
	})
}
