package h2c

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/switchyard-http/switchyard/internal/testkit"
)

// FuzzStream1 holds stream1, which turns the upgrade request a client
// sent into HTTP/2's stream 1, to what RFC 9113 §3.2 and RFC 9110 §7.6.1
// ask of it, on requests as net/http reads them from hostile bytes: the
// fields of the HTTP/1.1 hop (Connection, Upgrade, HTTP2-Settings,
// Keep-Alive, Proxy-Connection, Transfer-Encoding, TE, and every field
// Connection names, its own options aside) are gone and every other
// field is there with its values; the URL is the request-target as sent
// (a CONNECT's as net/http read it), a copy; the body is the replay,
// whole, taken from the upgrade request; and the upgrade request itself,
// which its Conn keeps, is left as it was.
func FuzzStream1(f *testing.F) {
	f.Add("/", "Connection: Upgrade, HTTP2-Settings\nUpgrade: h2c\nHTTP2-Settings: AAMAAABk\nAccept: */*", []byte(nil), false)
	f.Add("/a%2Fb?q=1", "Connection: upgrade, x-hop, ,TE\nX-Hop: 1\nTE: trailers\nX-Kept: 2\nX-Kept: 3", []byte("body"), false)
	f.Add("/p", "Connection: X-HOP\nConnection: keep-alive, close\nx-hop: a\nKeep-Alive: 5\nProxy-Connection: x\nClose: y", []byte{}, false)
	f.Add("example.com:443", "Connection: upgrade\nUpgrade: h2c\nX-A: b", []byte("x"), true)
	f.Add("http://other.example/abs?x", "Connection: Host\nCookie: a=b", []byte(nil), false)
	f.Add("/", "Transfer-Encoding: chunked\nConnection: \tfoo_bar ,\nFoo_bar: 1", []byte("chunked"), false)
	f.Fuzz(func(t *testing.T, target, fields string, body []byte, connect bool) {
		method := http.MethodGet
		if connect {
			method = http.MethodConnect
		}
		raw := method + " " + target + " HTTP/1.1\r\nHost: example.com\r\n" + strings.ReplaceAll(fields, "\n", "\r\n") + "\r\n\r\n"
		r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
		if err != nil {
			return
		}
		r.Body = &replay{bytes.NewReader(body)}
		before := r.Header.Clone()
		beforeURL := *r.URL

		up := stream1(r, context.Background())

		if !reflect.DeepEqual(r.Header, before) || *r.URL != beforeURL {
			t.Fatalf("stream1 changed the upgrade request: header %q, URL %v; was %q, %v", r.Header, r.URL, before, &beforeURL)
		}
		hop := map[string]bool{"connection": true, "upgrade": true, "http2-settings": true, "keep-alive": true, "proxy-connection": true, "transfer-encoding": true, "te": true}
		for _, line := range before["Connection"] {
			for _, opt := range strings.Split(line, ",") {
				switch opt = testkit.LowerASCII(strings.Trim(opt, " \t")); opt {
				case "upgrade", "http2-settings", "keep-alive", "close", "te":
					// Options, not fields it names (the hop's own fields
					// are gone anyway).
				default:
					hop[opt] = true
				}
			}
		}
		kept := 0
		for k, v := range before {
			got, ok := up.Header[k]
			switch {
			case hop[testkit.LowerASCII(k)] && ok:
				t.Fatalf("stream 1 kept the hop-by-hop field %s: %q (Connection: %q)", k, got, before["Connection"])
			case !hop[testkit.LowerASCII(k)] && !slices.Equal(got, v):
				t.Fatalf("stream 1 has %s: %q, want %q (Connection: %q)", k, got, v, before["Connection"])
			case ok:
				kept++
			}
		}
		if len(up.Header) != kept {
			t.Fatalf("stream 1 has fields the request had not: %q, request %q", up.Header, before)
		}

		if up.URL == r.URL {
			t.Fatal("stream 1 shares the upgrade request's URL")
		}
		want := &beforeURL
		if !connect {
			if want, err = url.ParseRequestURI(target); err != nil {
				t.Fatalf("net/http read the target %q, ParseRequestURI did not: %v", target, err)
			}
		}
		if up.URL.String() != want.String() {
			t.Fatalf("stream 1's URL is %q, want %q (target %q)", up.URL, want, target)
		}

		if up.Proto != "HTTP/2.0" || up.ProtoMajor != 2 || up.ProtoMinor != 0 || up.TransferEncoding != nil || up.Close {
			t.Fatalf("stream 1 is %s (%d.%d), Transfer-Encoding %q, Close %v", up.Proto, up.ProtoMajor, up.ProtoMinor, up.TransferEncoding, up.Close)
		}
		if n, err := r.Body.Read(make([]byte, 1)); n != 0 || err != io.EOF {
			t.Fatalf("the upgrade request still reads %d, %v after stream 1 took its body", n, err)
		}
		got, err := io.ReadAll(up.Body)
		if err != nil || !bytes.Equal(got, body) || up.ContentLength != int64(len(body)) {
			t.Fatalf("stream 1's body is %q, %v (length %d), want %q", got, err, up.ContentLength, body)
		}
	})
}
