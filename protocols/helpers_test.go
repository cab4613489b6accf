package protocols_test

import (
	"io"
	"net"
	"net/http/httptest"
	"testing"

	"github.com/switchyard-http/switchyard/internal/testkit"
	"github.com/switchyard-http/switchyard/negotiate"
	"github.com/switchyard-http/switchyard/protocols"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// register registers p under each token.
func register(p negotiate.Protocol, tokens ...string) *negotiate.Registry {
	reg := new(negotiate.Registry)
	for _, tok := range tokens {
		reg.Register(tok, p)
	}
	return reg
}

// streamServer serves f as protocols.Stream under "tcp" at an Endpoint of
// a new negotiator made with opts.
func streamServer(t *testing.T, opts *negotiate.Options, f func(*negotiate.Conn) error) (*negotiate.Negotiator, *httptest.Server) {
	t.Helper()
	return testkit.Endpoint(t, opts, register(protocols.Stream(f), "tcp"))
}

// joining joins each connection to a new connection to addr.
func joining(addr string) func(*negotiate.Conn) error {
	return func(c *negotiate.Conn) error {
		peer, err := net.Dial("tcp", addr)
		if err != nil {
			return err
		}
		return protocols.Join(c, peer)
	}
}

// halfClosing writes first and half-closes, then reads to the end and sends
// what it read to late: the side that ends its stream first.
func halfClosing(first string, late chan<- string) func(*negotiate.Conn) error {
	return func(c *negotiate.Conn) error {
		if _, err := io.WriteString(c, first); err != nil {
			return err
		}
		if err := c.CloseWrite(); err != nil {
			return err
		}
		b, err := io.ReadAll(c)
		late <- string(b)
		return err
	}
}
