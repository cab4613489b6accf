package benchmarks

import (
	"net"
	"testing"

	"github.com/switchyard-http/switchyard/internal/testkit"
)

// TestServers checks the set-up the benchmarks rely on, for every server:
// the raw client's handshake succeeds, a handshake-mode handler closes the
// connection at once with nothing behind the 101 but perhaps a close frame,
// and an idle-mode handler
// blocks reading until the client goes away, leaving nothing running.
func TestServers(t *testing.T) {
	for _, s := range servers {
		t.Run(s.name, func(t *testing.T) {
			var ic idleCounter
			closingSrv, stopClosing := s.start(t, func(func() error) {})
			defer stopClosing()
			idleSrv, stopIdle := s.start(t, ic.after)
			defer stopIdle() // first: its goroutines started after closingSrv's

			c := newRawClient(closingSrv)
			for range 3 {
				tc, err := c.handshake()
				if err != nil {
					t.Fatal(err)
				}
				// Nothing behind the 101 but, from a server that closes
				// politely, a close frame (opcode 8, FIN).
				if n := c.br.Buffered(); n > 0 {
					if b, _ := c.br.Peek(1); b[0] != 0x88 {
						t.Errorf("%d bytes behind the 101 starting %#x, want none or a close frame", n, b[0])
					}
				}
				if err := c.drainAndClose(tc); err != nil {
					t.Fatal(err)
				}
			}

			c = newRawClient(idleSrv)
			var conns []*net.TCPConn
			for range 3 {
				tc, err := c.handshake()
				if err != nil {
					t.Fatal(err)
				}
				conns = append(conns, tc)
			}
			testkit.WaitFor(t, "3 handlers reading", func() bool { return ic.reading.Load() == 3 })
			for _, tc := range conns {
				abort(tc)
			}
			testkit.WaitFor(t, "every handler to return after the clients closed", func() bool { return ic.running.Load() == 0 })

		})
	}
}
