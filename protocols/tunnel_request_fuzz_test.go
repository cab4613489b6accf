package protocols

import (
	"bufio"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/switchyard-http/switchyard/internal/testkit"
)

// FuzzTunnelRequest holds the upgrade request a tunnel sends its backend,
// made from a client's request read from hostile bytes, to what a proxy
// owes it (RFC 9110 §7.6.1, §7.8): no hop-by-hop field of the client's
// hop (the fixed ones and every field its Connection names, by name
// case-insensitively) and none of the client's forwarding fields (they
// could be forged), every other end-to-end field with its values (Host,
// Expect and Content-Length aside), X-Forwarded-For the client's address
// alone, an offer of the chosen token alone, HTTP2-Settings only with an
// h2c offer, and the client's request left as it was.
func FuzzTunnelRequest(f *testing.F) {
	f.Add("Connection: Upgrade, X-Hop\nUpgrade: echo/1\nX-Hop: 1\nX-Kept: a\nX-Kept: b\nCookie: c=d", "echo/1")
	f.Add("Connection: upgrade\nConnection: te, x-HOP\nTE: trailers\nx-hop: 2\nKeep-Alive: 5\nProxy-Authorization: Basic eA==\nTrailer: X", "echo/1")
	f.Add("Connection: Upgrade, HTTP2-Settings\nUpgrade: h2c\nHTTP2-Settings: AAMAAABk", "h2c")
	f.Add("Connection: Upgrade\nUpgrade: echo/1\nHTTP2-Settings: AAMAAABk\nTE: trailers\nTrailer: X\nProxy-Connection: x", "echo/1")
	f.Add("Connection: Upgrade\nX-Forwarded-For: 10.0.0.1\nX-Forwarded-Host: evil\nForwarded: for=x\nX-Forwarded-Proto: https\nExpect: 100-continue", "websocket")
	f.Add("Connection: Upgrade,\t,Cookie\nCookie: secret\nContent-Length: 0", "echo/1")
	tun, err := NewTunnel("http://127.0.0.1:1/base/", nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, fields, token string) {
		raw := "GET /p?q HTTP/1.1\r\nHost: example.com\r\n" + strings.ReplaceAll(fields, "\n", "\r\n") + "\r\n\r\n"
		r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
		if err != nil {
			return
		}
		r.RemoteAddr = "192.0.2.1:1234"
		before := r.Header.Clone()

		req := tun.request(r, token)

		if !reflect.DeepEqual(r.Header, before) {
			t.Fatalf("the client's request changed: %q, was %q", r.Header, before)
		}
		if !slices.Equal(req.Offer, []string{token}) {
			t.Fatalf("the backend is offered %q, want %q alone", req.Offer, token)
		}
		name, _, _ := strings.Cut(token, "/")
		h2c := strings.EqualFold(name, "h2c")
		drop := map[string]bool{"connection": true, "keep-alive": true, "proxy-connection": true, "proxy-authenticate": true,
			"proxy-authorization": true, "te": true, "trailer": true, "transfer-encoding": true, "upgrade": true,
			"host": true, "expect": true, "content-length": true,
			"forwarded": true, "x-forwarded-for": true, "x-forwarded-host": true, "x-forwarded-proto": true}
		for _, line := range before["Connection"] {
			for _, opt := range strings.Split(line, ",") {
				drop[testkit.LowerASCII(strings.Trim(opt, " \t"))] = true
			}
		}
		for k, v := range before {
			got, ok := req.Header[k]
			switch lk := testkit.LowerASCII(k); {
			case lk == "http2-settings" && h2c:
				if !slices.Equal(got, v) {
					t.Fatalf("an h2c offer goes with HTTP2-Settings %q, want %q", got, v)
				}
			case lk == "x-forwarded-for" || lk == "x-forwarded-host" || lk == "x-forwarded-proto":
			case drop[lk] && ok:
				t.Fatalf("the backend gets the client's hop-by-hop or forwarding field %s: %q (Connection: %q)", k, got, before["Connection"])
			case !drop[lk] && !slices.Equal(got, v):
				t.Fatalf("the backend gets %s: %q, want %q (Connection: %q)", k, got, v, before["Connection"])
			}
		}
		for k := range req.Header {
			if _, ok := before[k]; !ok && k != "X-Forwarded-For" && k != "X-Forwarded-Host" && k != "X-Forwarded-Proto" {
				t.Fatalf("the backend gets %s, which the client did not send", k)
			}
		}
		if got := req.Header["X-Forwarded-For"]; !slices.Equal(got, []string{"192.0.2.1"}) {
			t.Fatalf("X-Forwarded-For is %q, want the client's address alone", got)
		}
		if got := req.Header["X-Forwarded-Host"]; !slices.Equal(got, []string{r.Host}) {
			t.Fatalf("X-Forwarded-Host is %q, want %q", got, r.Host)
		}
		if !h2c && len(req.Connection) != 0 || h2c && len(req.Connection) > 1 {
			t.Fatalf("the backend's Connection options are %q for the offer %q", req.Connection, token)
		}
		if req.URL.Path != "/base/p" || req.URL.RawQuery != "q" || req.Host != r.Host {
			t.Fatalf("the backend's target is %v, Host %q", req.URL, req.Host)
		}
	})
}
