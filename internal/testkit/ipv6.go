package testkit

import (
	"net"
	"testing"
)

// IPv6Loopback returns a listener on [::1] with a port of its own, closed
// when the test ends; the test is skipped where the machine has no IPv6
// loopback.
func IPv6Loopback(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// LoopbackZone returns the name of the loopback interface (lo, lo0), the
// zone that ::1 takes in a URL ("[::1%25lo]"); the test is skipped where
// there is none.
func LoopbackZone(t testing.TB) string {
	t.Helper()
	ifs, _ := net.Interfaces()
	for _, i := range ifs {
		if i.Flags&net.FlagLoopback != 0 && i.Flags&net.FlagUp != 0 {
			return i.Name
		}
	}
	t.Skip("no loopback interface to name as a zone")
	return ""
}
