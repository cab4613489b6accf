package h2c_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard-http/switchyard/h2c"
	"github.com/switchyard-http/switchyard/internal/h2ctest"
	"github.com/switchyard-http/switchyard/internal/testkit"
	"github.com/switchyard-http/switchyard/negotiate"
)

// 100 clients upgrade to h2c (a third with a body, some with a stream that
// waits until the shutdown has begun) while a shutdown begins, or while
// one whose context has ended returns. Every upgraded connection gets
// GOAWAY or is closed by the server, none is counted after Shutdown has
// returned, each switch reaches OnClose once, every slot is released, and
// a graceful shutdown lets every first stream finish.
func TestShutdownUnderLoad(t *testing.T) {
	t.Parallel()
	for _, forced := range []bool{false, true} {
		name := "graceful"
		if forced {
			name = "forced"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var switches, closes atomic.Int64
			n := testkit.NewNegotiator(t, &negotiate.Options{
				MaxConns: 40,
				OnSwitch: func(negotiate.ConnInfo) { switches.Add(1) },
				OnClose:  func(negotiate.ConnInfo) { closes.Add(1) },
			})
			release := make(chan struct{})
			p := newH2C(t, &h2c.Options{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/slow" {
					<-release
				}
				_, _ = io.WriteString(w, "done")
			})})
			srv := testkit.StartServer(t, n.Middleware(register(p))(app))

			const clients = 100
			var wg sync.WaitGroup
			var upgraded, open atomic.Int64
			for i := range clients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					conn, err := net.Dial("tcp", testkit.Addr(srv))
					if err != nil {
						t.Error(err)
						return
					}
					defer conn.Close()
					_ = conn.SetDeadline(time.Now().Add(testkit.Timeout))
					var body []byte
					var extra []string
					if i%3 == 0 {
						body = make([]byte, 1000)
						extra = append(extra, "Content-Length: 1000")
					}
					path := "/"
					if i%4 == 0 {
						path = "/slow"
					}
					_, first, err := h2ctest.Upgrade(conn, h2ctest.RequestHead("POST", path, "h2c.test", extra...), body)
					if err != nil || first == nil {
						return // refused, or closed by a forced shutdown
					}
					upgraded.Add(1)
					// The server ends the connection: GOAWAY, then the close.
					_, err = io.Copy(io.Discard, conn)
					var ne net.Error
					if errors.As(err, &ne) && ne.Timeout() {
						open.Add(1)
					}
				}()
			}
			testkit.WaitFor(t, "a few switches", func() bool { return n.Stats().Switched["h2c"] >= 5 })
			ctx, cancel := context.WithTimeout(context.Background(), testkit.Timeout)
			if forced {
				cancel()
			}
			done := make(chan error, 1)
			go func() { done <- n.Shutdown(ctx) }()
			var probes int64 // probes that switched before the shutdown began
			testkit.WaitFor(t, "the shutdown to begin", func() bool {
				down, switched := probe(t, setup{n, srv})
				if switched {
					probes++
				}
				return down
			})
			close(release)
			err := testkit.Receive(t, done, "Shutdown")
			cancel()
			at := n.Stats().Switched["h2c"]
			if forced != (err != nil) {
				t.Errorf("Shutdown = %v", err)
			}
			wg.Wait()
			if o := open.Load(); o > 0 {
				t.Errorf("%d upgraded connections still open after the shutdown", o)
			}
			if u := upgraded.Load(); !forced && u+probes != at {
				t.Errorf("%d connections switched, %d answered their first stream (and %d probes): a graceful shutdown lets it finish", at, u, probes)
			}
			testkit.WaitFor(t, "every connection to close", func() bool { return n.Stats().Active["h2c"] == 0 })
			testkit.WaitFor(t, "OnClose for every switch", func() bool { return closes.Load() == switches.Load() })
			if s := n.Stats().Switched["h2c"]; s != at || s != switches.Load() {
				t.Errorf("switched: %d when Shutdown returned, %d after, %d OnSwitch", at, s, switches.Load())
			}
			ctx, cancel = context.WithTimeout(context.Background(), testkit.Timeout)
			defer cancel()
			if err := n.Shutdown(ctx); err != nil {
				t.Errorf("Shutdown after the load: %v (a slot left taken)", err)
			}
			t.Logf("%d switched, %d upgraded, %d probes", at, upgraded.Load(), probes)
		})
	}
}
