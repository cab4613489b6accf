package negotiate_test

import (
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/switchyard-http/switchyard/internal/testkit"
	"github.com/switchyard-http/switchyard/negotiate"
)

// A write that has entered an HTTP/2 stream but not yet taken its turn is
// under way as much as one already writing. When the protocol returns, it
// gets Options.Linger, and when the protocol closes the Conn it fails at
// once; either way the handler returns, although the client never reads
// and the write waits for a window that never opens.
func TestStreamWriteEnteredAtEnd(t *testing.T) {
	testkit.EachXConnect(t, func(t *testing.T, useTLS bool) {
		for _, closing := range []bool{false, true} {
			t.Run(fmt.Sprintf("close=%v", closing), func(t *testing.T) {
				entered, restore := negotiate.HoldEnteredWrite()
				t.Cleanup(restore)
				infos := testkit.NewConnInfos()
				n := testkit.NewNegotiator(t, &negotiate.Options{Linger: 50 * time.Millisecond, OnClose: infos.Hook})
				reg := new(negotiate.Registry)
				reg.HandleFunc("write/1", func(c *negotiate.Conn) error {
					written := make(chan error, 1)
					go func() {
						// Twice the client's stream window.
						_, err := c.Write(make([]byte, 8<<20))
						written <- err
					}()
					<-entered
					if !closing {
						return nil
					}
					_ = c.Close()
					select {
					case err := <-written:
						if err == nil {
							return fmt.Errorf("the write waiting at Close went out, want an error")
						}
						return nil
					case <-time.After(testkit.Timeout):
						return fmt.Errorf("the write waiting at Close still waits")
					}
				})
				srv := testkit.StartH2Server(t, n.Endpoint(reg), n, useTLS)
				_, _, err := testkit.XDial(t, testkit.XClient(t, srv, useTLS), srv.URL, "write/1", nil)
				// The Close resets the stream with the write waiting: the
				// client may see the reset before Dial returns.
				if err != nil && !closing {
					t.Fatal(err)
				}
				if info := infos.Next(t); info.Err != nil {
					t.Errorf("protocol: %v", info.Err)
				}
			})
		}
	})
}

// A read and a write that wait when the protocol closes its Conn fail
// with net.ErrClosed, on an HTTP/2 stream as on a hijacked connection (a
// net.Conn's reads and writes do so after its Close), not with the
// deadline error the stream's close is made of: a protocol that closes
// its Conn at a shutdown and returns what its read got must not report a
// timeout.
func TestCloseEndsWaitingOpsWithErrClosed(t *testing.T) {
	t.Parallel()
	type result struct{ read, write error }
	serve := func(results chan<- result) func(c *negotiate.Conn) error {
		return func(c *negotiate.Conn) error {
			read, written := make(chan error, 1), make(chan error, 1)
			go func() {
				_, err := c.Read(make([]byte, 1))
				read <- err
			}()
			go func() {
				p := make([]byte, 64<<10)
				for { // until the windows or the sockets are full: the client never reads
					if _, err := c.Write(p); err != nil {
						written <- err
						return
					}
				}
			}()
			// Both wait: the write once it has sent something, the read
			// (which nothing ends but the Close) by then too.
			for c.Info().BytesOut == 0 {
				time.Sleep(time.Millisecond)
			}
			time.Sleep(20 * time.Millisecond)
			_ = c.Close()
			results <- result{<-read, <-written}
			return nil
		}
	}
	check := func(t *testing.T, results <-chan result) {
		r := testkit.Receive(t, results, "the protocol's read and write")
		if !errors.Is(r.read, net.ErrClosed) || !errors.Is(r.write, net.ErrClosed) {
			t.Errorf("read: %v; write: %v; want both net.ErrClosed", r.read, r.write)
		}
	}
	t.Run("http/1.1", func(t *testing.T) {
		t.Parallel()
		results := make(chan result, 1)
		reg := new(negotiate.Registry)
		reg.HandleFunc("wait/1", serve(results))
		_, srv := testkit.Endpoint(t, nil, reg)
		c, _ := testkit.Dial(t, srv.URL, []string{"wait/1"}, nil)
		defer c.Close()
		check(t, results)
	})
	testkit.EachXConnect(t, func(t *testing.T, useTLS bool) {
		results := make(chan result, 1)
		n := testkit.NewNegotiator(t, nil)
		reg := new(negotiate.Registry)
		reg.HandleFunc("wait/1", serve(results))
		srv := testkit.StartH2Server(t, n.Endpoint(reg), n, useTLS)
		if _, _, err := testkit.XDial(t, testkit.XClient(t, srv, useTLS), srv.URL, "wait/1", nil); err != nil {
			t.Fatal(err)
		}
		check(t, results)
	})
}
