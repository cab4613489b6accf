package negotiate_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/switchyard-http/switchyard/internal/testkit"
	"github.com/switchyard-http/switchyard/internal/xconnect"
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
				cfg := srv.Client().Transport.(*http.Transport).TLSClientConfig
				if !useTLS {
					cfg = nil
				}
				client := xconnect.New(cfg)
				t.Cleanup(client.CloseIdleConnections)
				ctx, cancel := context.WithTimeout(context.Background(), testkit.Timeout)
				defer cancel()
				st, _, err := client.Dial(ctx, srv.URL, "write/1", nil)
				if st != nil {
					t.Cleanup(func() { st.Close() })
				}
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
