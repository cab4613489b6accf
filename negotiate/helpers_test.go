package negotiate_test

import (
	"bufio"
	"bytes"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/switchyard-http/switchyard/internal/testkit"
	"github.com/switchyard-http/switchyard/negotiate"
)

// serving is the simplest protocol: nothing to check or add, f serves.
func serving(f func(*negotiate.Conn) error) negotiate.Protocol {
	return negotiate.Protocol{Accept: func(*negotiate.Switch) (func(*negotiate.Conn) error, error) { return f, nil }}
}

// newRegistry registers protos in the order of their tokens.
func newRegistry(protos map[string]negotiate.Protocol) *negotiate.Registry {
	reg := new(negotiate.Registry)
	for _, tok := range slices.Sorted(maps.Keys(protos)) {
		reg.Register(tok, protos[tok])
	}
	return reg
}

func echoRegistry() *negotiate.Registry {
	reg := new(negotiate.Registry)
	reg.HandleFunc("echo/1", testkit.EchoConn)
	return reg
}

// dial offers tokens at srv's path and returns the switched connection.
func dial(t testing.TB, srv *httptest.Server, path string, tokens []string, h http.Header) net.Conn {
	t.Helper()
	c, _ := testkit.Dial(t, srv.URL+path, tokens, h)
	return c
}

// raw sends request bytes to srv and reads one response.
func raw(t testing.TB, srv *httptest.Server, request string) (*http.Response, string, *bufio.Reader, net.Conn) {
	t.Helper()
	x := testkit.Raw(t, testkit.Addr(srv), request)
	return x.Resp, x.Body, x.BR, x.Conn
}

// rawWire is raw with the bytes read off the wire.
func rawWire(t testing.TB, srv *httptest.Server, request string) (*http.Response, string, *bufio.Reader, net.Conn, *bytes.Buffer) {
	t.Helper()
	x := testkit.Raw(t, testkit.Addr(srv), request)
	return x.Resp, x.Body, x.BR, x.Conn, x.Wire
}
