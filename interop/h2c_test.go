package interop_test

//lint:file-ignore SA1019 x/net's deprecated http2.Transport is one of the h2c clients under test: programs still use it

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/net/http2"
)

// TestH2CCurl: curl --http2 on a plain http:// URL upgrades with
// "Upgrade: h2c"; a GET and a 100 KiB POST (sent with the upgrade request,
// so replayed as stream 1's body) are served over HTTP/2 by the same
// handler.
func TestH2CCurl(t *testing.T) {
	t.Parallel()
	bin := program(t, "curl", "curl")
	body, bodyPath := h2cBody(t)
	// curl upgrades to h2c with --http2 on an http:// URL; -v's trace on
	// standard error shows the switch.
	curl := func(t *testing.T, args ...string) []byte {
		t.Helper()
		out, verbose := runPeer(t, bin, append([]string{"-sS", "-v", "--http2", "--max-time", "30"}, args...)...)
		wantSwitched(t, verbose)
		return out
	}

	t.Run("GET", func(t *testing.T) {
		t.Parallel()
		s := newH2CServer(t, h2cConfig{})
		out := curl(t, "-w", "\n%{http_version}", s.URL+"/proto")
		if got, want := string(out), "HTTP/2.0\n2"; got != want {
			t.Errorf("curl received %q (body, then curl's HTTP version), want %q", got, want)
		}
		if got, want := s.switched(), int64(1); got != want {
			t.Errorf("negotiator counted %d h2c switches, want %d", got, want)
		}
	})

	t.Run("POST 100 KiB", func(t *testing.T) {
		t.Parallel()
		s := newH2CServer(t, h2cConfig{})
		// /echo: the body comes back byte for byte.
		echoed := filepath.Join(t.TempDir(), "echoed.bin")
		curl(t, "-H", "Content-Type: application/octet-stream", "--data-binary", "@"+bodyPath, "-o", echoed, s.URL+"/echo")
		got, err := os.ReadFile(echoed)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, body) {
			t.Errorf("/echo returned %d bytes that differ from the %d sent", len(got), len(body))
		}
		// /seen: the handler saw HTTP/2.0 and the whole body.
		if got, want := string(curl(t, "--data-binary", "@"+bodyPath, s.URL+"/seen")), seenLine("HTTP/2.0", body); got != want {
			t.Errorf("handler saw %q, want %q", got, want)
		}
		if got, want := s.switched(), int64(2); got != want {
			t.Errorf("negotiator counted %d h2c switches, want %d", got, want)
		}
	})
}

// wantSwitched checks curl -v's trace: the upgrade offer went out, a 101
// with Upgrade: h2c came back, and the response that followed was HTTP/2.
func wantSwitched(t *testing.T, verbose []byte) {
	t.Helper()
	v := string(verbose)
	for _, want := range []string{
		"> Upgrade: h2c",
		"< HTTP/1.1 101 Switching Protocols",
		"< Upgrade: h2c",
		"< HTTP/2 200",
	} {
		if !strings.Contains(v, want) {
			t.Errorf("curl -v trace lacks %q:\n%s", want, v)
		}
	}
}

// TestH2CNghttp: nghttp -u (nghttp2's client). Without data it upgrades
// with the request itself. With data (-d) it upgrades with "OPTIONS *" and
// sends the real request as a later stream; net/http answers "OPTIONS *"
// itself unless http.Server.DisableGeneralOptionsHandler is set, so only
// then can the upgrade happen, and the handler must answer "OPTIONS *" too
// (see the h2c package documentation).
func TestH2CNghttp(t *testing.T) {
	t.Parallel()
	bin := program(t, "nghttp", "nghttp2-client")
	body, bodyPath := h2cBody(t)
	// nghttp -u upgrades to h2c; it says on standard error what it did.
	nghttp := func(t *testing.T, args ...string) (out, errOut []byte) {
		t.Helper()
		return runPeer(t, bin, append([]string{"-u", "-t", "30"}, args...)...)
	}

	t.Run("GET", func(t *testing.T) {
		t.Parallel()
		s := newH2CServer(t, h2cConfig{})
		out, errOut := nghttp(t, s.URL+"/proto")
		if got, want := string(out), "HTTP/2.0"; got != want {
			t.Errorf("nghttp received %q, want %q\n%s", got, want, errOut)
		}
		if got, want := s.switched(), int64(1); got != want {
			t.Errorf("negotiator counted %d h2c switches, want %d", got, want)
		}
	})

	t.Run("data, default server: OPTIONS * answered by net/http", func(t *testing.T) {
		t.Parallel()
		s := newH2CServer(t, h2cConfig{})
		// nghttp exits 0 here too; what it says and does is the result.
		out, errOut := nghttp(t, "-d", bodyPath, s.URL+"/seen")
		if !strings.Contains(string(errOut), "HTTP Upgrade failed") {
			t.Errorf("nghttp said %q, want HTTP Upgrade failed", errOut)
		}
		if len(out) != 0 {
			t.Errorf("nghttp received %q, want nothing", out)
		}
		if got := s.switched(); got != 0 {
			t.Errorf("negotiator counted %d h2c switches, want 0: net/http answers OPTIONS * before any handler", got)
		}
	})

	t.Run("data, DisableGeneralOptionsHandler and OPTIONS * answered", func(t *testing.T) {
		t.Parallel()
		s := newH2CServer(t, h2cConfig{disableOptions: true, answerOptions: true})
		out, errOut := nghttp(t, "-d", bodyPath, s.URL+"/seen")
		if got, want := string(out), seenLine("HTTP/2.0", body); got != want {
			t.Errorf("handler saw %q, want %q\n%s", got, want, errOut)
		}
		out, errOut = nghttp(t, "-d", bodyPath, s.URL+"/echo")
		if !bytes.Equal(out, body) {
			t.Errorf("/echo returned %d bytes that differ from the %d sent\n%s", len(out), len(body), errOut)
		}
		if got, want := s.switched(), int64(2); got != want {
			t.Errorf("negotiator counted %d h2c switches, want %d", got, want)
		}
	})

	// http.ServeMux answers "OPTIONS *" with 400 and "Connection: close",
	// which an HTTP/2 server turns into GOAWAY: whether nghttp's request,
	// already on its way, is still served depends on whether the server
	// read it before stream 1's answer. The test shows the switch and
	// that a request, if served, is served right; it does not assert the
	// race.
	t.Run("data, DisableGeneralOptionsHandler and a bare ServeMux", func(t *testing.T) {
		t.Parallel()
		s := newH2CServer(t, h2cConfig{disableOptions: true})
		out, errOut := nghttp(t, "-d", bodyPath, s.URL+"/seen")
		if got, want := s.switched(), int64(1); got != want {
			t.Errorf("negotiator counted %d h2c switches, want %d", got, want)
		}
		switch want := seenLine("HTTP/2.0", body); {
		case string(out) == want:
			t.Logf("the request beat the GOAWAY and was served")
		case len(out) == 0 && strings.Contains(string(errOut), "not processed"):
			t.Logf("GOAWAY after stream 1 (OPTIONS *); nghttp: %s", bytes.TrimSpace(errOut))
		default:
			t.Errorf("nghttp received %q, want %q or nothing\n%s", out, want, errOut)
		}
	})
}

// TestH2CGoPriorKnowledge: Go's own HTTP/2 clients with prior knowledge
// (no upgrade) against the same server, set up with h2c.ConfigureServer:
// x/net's http2.Transport with AllowHTTP and a plain dial, and net/http's
// Transport with Protocols.UnencryptedHTTP2.
func TestH2CGoPriorKnowledge(t *testing.T) {
	t.Parallel()
	body, _ := h2cBody(t)

	var protos http.Protocols
	protos.SetUnencryptedHTTP2(true)
	transports := []struct {
		name string
		rt   func() (http.RoundTripper, func())
	}{
		{"x/net http2.Transport", func() (http.RoundTripper, func()) {
			tr := &http2.Transport{
				AllowHTTP: true,
				DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
					var d net.Dialer
					return d.DialContext(ctx, network, addr)
				},
			}
			return tr, tr.CloseIdleConnections
		}},
		{"net/http UnencryptedHTTP2", func() (http.RoundTripper, func()) {
			tr := &http.Transport{Protocols: &protos}
			return tr, tr.CloseIdleConnections
		}},
	}
	for _, tt := range transports {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newH2CServer(t, h2cConfig{})
			rt, closeIdle := tt.rt()
			defer closeIdle()
			c := &http.Client{Transport: rt, Timeout: testTimeout}

			// http2 reads the answer to c.Get or c.Post whole and checks
			// that it is HTTP/2's 200.
			http2 := func(resp *http.Response, err error) []byte {
				t.Helper()
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				got, err := io.ReadAll(resp.Body)
				if err != nil {
					t.Fatalf("%s: reading the body: %v", resp.Request.URL.Path, err)
				}
				if resp.StatusCode != http.StatusOK || resp.ProtoMajor != 2 {
					t.Fatalf("%s: %s %s, want HTTP/2.0 200", resp.Request.URL.Path, resp.Proto, resp.Status)
				}
				return got
			}
			const octets = "application/octet-stream"
			if got, want := string(http2(c.Get(s.URL+"/proto"))), "HTTP/2.0"; got != want {
				t.Errorf("/proto = %q, want %q", got, want)
			}
			if got, want := string(http2(c.Post(s.URL+"/seen", octets, bytes.NewReader(body)))), seenLine("HTTP/2.0", body); got != want {
				t.Errorf("handler saw %q, want %q", got, want)
			}
			if got := http2(c.Post(s.URL+"/echo", octets, bytes.NewReader(body))); !bytes.Equal(got, body) {
				t.Errorf("/echo returned %d bytes that differ from the %d sent", len(got), len(body))
			}
			// Prior knowledge is HTTP/2 from the first byte: net/http
			// serves it, and nothing switches.
			if got := s.switched(); got != 0 {
				t.Errorf("negotiator counted %d h2c switches, want 0", got)
			}
		})
	}
}
