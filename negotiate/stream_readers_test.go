package negotiate_test

import (
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"github.com/switchyard-http/switchyard/internal/testkit"
	"github.com/switchyard-http/switchyard/negotiate"
)

// Reads waiting together on an HTTP/2 stream all end when the Conn is
// closed, or when the read deadline passes, as on a net.Conn, whose
// methods several goroutines may call at once. The stream's body wakes
// one waiting reader when it is closed: the others waited for ever, and
// so did the handler, which waits for every operation under way before the
// stream can end.
func TestStreamConcurrentReadsEnd(t *testing.T) {
	testkit.EachXConnect(t, func(t *testing.T, useTLS bool) {
		for _, how := range []string{"close", "deadline"} {
			t.Run(how, func(t *testing.T) {
				const readers = 3
				errs := make(chan error, readers)
				infos := testkit.NewConnInfos()
				n := testkit.NewNegotiator(t, &negotiate.Options{OnClose: infos.Hook})
				reg := new(negotiate.Registry)
				reg.HandleFunc("read/1", func(c *negotiate.Conn) error {
					waiting, ended := make(chan struct{}, readers), make(chan error, readers)
					for range readers {
						go func() {
							waiting <- struct{}{}
							_, err := c.Read(make([]byte, 1))
							ended <- err
						}()
					}
					for range readers {
						<-waiting
					}
					time.Sleep(50 * time.Millisecond) // for the reads to wait (not a condition of the outcome)
					var err error
					if how == "close" {
						err = c.Close()
					} else {
						err = c.SetReadDeadline(time.Now())
					}
					// The serve func returns once the reads have ended, so
					// that its return does not end them.
					for range readers {
						select {
						case e := <-ended:
							errs <- e
						case <-time.After(testkit.Timeout):
							return errors.New("a read still waits")
						}
					}
					return err
				})
				srv := testkit.StartH2Server(t, n.Endpoint(reg), n, useTLS)
				if _, _, err := testkit.XDial(t, testkit.XClient(t, srv, useTLS), srv.URL, "read/1", nil); err != nil {
					t.Fatal(err)
				}
				for i := range readers {
					err := testkit.Receive(t, errs, "the end of each waiting read")
					if how == "close" && !errors.Is(err, net.ErrClosed) || how == "deadline" && !errors.Is(err, os.ErrDeadlineExceeded) && !errors.Is(err, net.ErrClosed) {
						t.Errorf("read %d: %v", i, err)
					}
				}
				if info := infos.Next(t); info.Err != nil {
					t.Errorf("protocol: %v", info.Err)
				}
			})
		}
	})
}
