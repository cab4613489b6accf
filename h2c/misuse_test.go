package h2c_test

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"github.com/switchyard-http/switchyard/h2c"
)

// New refuses options it could not apply: a negative body bound, a
// trusted proxy prefix that is not valid (the zero netip.Prefix).
func TestNewRefusesBadOptions(t *testing.T) {
	t.Parallel()
	for name, o := range map[string]h2c.Options{
		"MaxBodyBytes -1":     {MaxBodyBytes: -1},
		"zero TrustedProxies": {TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), {}}},
	} {
		if _, err := h2c.New(&o); err == nil {
			t.Errorf("%s: New returned no error", name)
		}
	}
	if _, err := h2c.New(&h2c.Options{MaxBodyBytes: 1, IdleTimeout: -1, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("::1/128")}}); err != nil {
		t.Errorf("valid options: %v", err)
	}
}

// ConfigureServer sets srv up and nothing else: a Protocols value srv
// shares with another server is not changed under that one (which would
// then take unencrypted HTTP/2 too). A nil srv panics with the package's
// message.
func TestConfigureServerChangesOnlySrv(t *testing.T) {
	t.Parallel()
	shared := new(http.Protocols)
	shared.SetHTTP1(true)
	other := &http.Server{Protocols: shared}
	srv := &http.Server{Protocols: shared}
	h2c.ConfigureServer(srv)
	if other.Protocols.UnencryptedHTTP2() {
		t.Error("the other server's Protocols now take unencrypted HTTP/2")
	}
	if p := srv.Protocols; !p.UnencryptedHTTP2() || !p.HTTP1() || p.HTTP2() {
		t.Errorf("srv's Protocols = %v, want its HTTP/1 kept and unencrypted HTTP/2 added", p)
	}
	fresh := new(http.Server)
	h2c.ConfigureServer(fresh)
	if p := fresh.Protocols; !p.HTTP1() || !p.HTTP2() || !p.UnencryptedHTTP2() {
		t.Errorf("a server without Protocols: %v, want HTTP/1, HTTP/2 and unencrypted HTTP/2", p)
	}
	msg := func() (msg string) {
		defer func() { msg = fmt.Sprint(recover()) }()
		h2c.ConfigureServer(nil)
		return
	}()
	if !strings.HasPrefix(msg, "h2c: ") {
		t.Errorf("ConfigureServer(nil) panicked with %q, want the package's message", msg)
	}
}
