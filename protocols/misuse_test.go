package protocols_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/switchyard-http/switchyard/internal/testkit"
	"github.com/switchyard-http/switchyard/negotiate"
	"github.com/switchyard-http/switchyard/protocols"
)

// Mistakes in mounting a tunnel panic when the mount is made, with a
// message that names the mistake, rather than inside requests: a nil
// negotiator at the first upgrade, a nil next handler at the first plain
// request, a Tunnel not made by NewTunnel at the first upgrade (a
// registration without Accept).
func TestTunnelMountMistakesPanic(t *testing.T) {
	t.Parallel()
	tu, err := protocols.NewTunnel("http://127.0.0.1:1", nil)
	if err != nil {
		t.Fatal(err)
	}
	n := testkit.NewNegotiator(t, nil)
	var zero protocols.Tunnel
	var nilT *protocols.Tunnel
	for name, f := range map[string]func(){
		"Middleware(nil)":          func() { tu.Middleware(nil) },
		"Middleware(n)(nil)":       func() { tu.Middleware(n)(nil) },
		"zero Tunnel's Middleware": func() { zero.Middleware(n) },
		"nil Tunnel's Middleware":  func() { nilT.Middleware(n) },
		"zero Tunnel's Protocol":   func() { zero.Protocol() },
		"nil Tunnel's Protocol":    func() { nilT.Protocol() },
	} {
		msg := func() (msg string) {
			defer func() {
				if p := recover(); p != nil {
					msg = fmt.Sprint(p)
				}
			}()
			f()
			return ""
		}()
		if !strings.HasPrefix(msg, "protocols: ") {
			t.Errorf("%s: panic %q, want one of the package's own at the mount", name, msg)
		}
	}
}

// A backend whose port no connection can have is refused by NewTunnel,
// as a backend that is not http(s) is, instead of a 502 at every upgrade.
func TestNewTunnelRefusesBadPort(t *testing.T) {
	t.Parallel()
	for _, backend := range []string{"http://127.0.0.1:99999", "http://127.0.0.1:0", "https://[::1]:65536/x"} {
		if _, err := protocols.NewTunnel(backend, nil); err == nil {
			t.Errorf("NewTunnel(%q) took it", backend)
		}
	}
	for _, backend := range []string{"http://127.0.0.1:65535", "https://[::1]:1/x", "http://localhost"} {
		if _, err := protocols.NewTunnel(backend, nil); err != nil {
			t.Errorf("NewTunnel(%q): %v", backend, err)
		}
	}
}

// Join with a nil peer (a dial whose error was not looked at) is an
// error the negotiator reports to OnClose; it was a nil dereference in
// one of Join's goroutines, which no one recovers, so the whole server
// process ended. Stream(nil) panics, as its doc says.
func TestJoinNilAndStreamNil(t *testing.T) {
	t.Parallel()
	infos := testkit.NewConnInfos()
	reg := new(negotiate.Registry)
	reg.Register("x", protocols.Stream(func(c *negotiate.Conn) error { return protocols.Join(c, nil) }))
	_, srv := testkit.Endpoint(t, &negotiate.Options{OnClose: infos.Hook}, reg)
	c, _ := testkit.Dial(t, srv.URL, []string{"x"}, nil)
	defer c.Close()
	testkit.ExpectClosed(t, c)
	if i := infos.Next(t); i.Err == nil || !strings.Contains(i.Err.Error(), "nil") {
		t.Errorf("OnClose Err = %v, want Join's error about a nil connection", i.Err)
	}
	msg := func() (msg string) {
		defer func() { msg = fmt.Sprint(recover()) }()
		protocols.Stream(nil)
		return
	}()
	if !strings.HasPrefix(msg, "protocols: ") {
		t.Errorf("Stream(nil) panicked with %q, want the package's message", msg)
	}
}
