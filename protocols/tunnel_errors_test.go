package protocols_test

import (
	"strings"
	"testing"

	"github.com/switchyard-http/switchyard/protocols"
)

// NewTunnel's error for a backend URL it rejects does not carry the URL's
// password: configuration errors end up in logs (log.Fatal at start), and
// a backend with a user and password is one it rejects. The URL is quoted
// with the password redacted, as net/http's client quotes URLs in its
// errors.
func TestNewTunnelErrorHidesPassword(t *testing.T) {
	t.Parallel()
	for _, u := range []string{
		"http://user:hunter2@backend:8080", "ftp://user:hunter2@backend", "http://user:hunter2@backend:99999",
		// Backends url.Parse rejects: its error quotes the URL as given.
		"http://user:hunter2@backend:port/", "http://user:hunter2@[::1/", "http://user:hunter2@backend/%zz", "http://us er:hunter2@backend/",
		// A user in an opaque URL, which URL.Redacted leaves as it is, and
		// one without a scheme.
		"http:user:hunter2@backend", "user:hunter2@backend", "//user:hunter2@backend",
		// A password with an unescaped '/', '?' or '#', which ends the
		// authority: url.Parse rejects it and quotes its start as a port.
		"http://user:hunter2/x@backend", "http://user:x?hunter2@backend", "http://user:hunter2#@backend", "http:user:x/hunter2@backend",
		// ... or one url.Parse takes, with the password's start for a port.
		"http://user:8080?hunter2@backend", "http://user:99999/hunter2@backend",
	} {
		_, err := protocols.NewTunnel(u, nil)
		if err == nil {
			t.Fatalf("NewTunnel(%q) = nil error, want one", u)
		}
		if msg := err.Error(); strings.Contains(msg, "hunter2") || !strings.HasPrefix(msg, "protocols: tunnel backend") {
			t.Errorf("NewTunnel(%q) = %q: want the protocols prefix and no password", u, msg)
		}
	}
}
