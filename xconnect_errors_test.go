package switchyard_test

import (
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/switchyard-http/switchyard/internal/testkit"
	"github.com/switchyard-http/switchyard/negotiate"
)

// afterClose closes c and reports each net.Conn method's error after the
// Close that is not net.ErrClosed, as a net.Conn's (a TCPConn's, a
// tls.Conn's) are: reads, writes and the three deadline setters. A second
// Close does nothing.
func afterClose(c *negotiate.Conn) error {
	if err := c.Close(); err != nil {
		return fmt.Errorf("Close: %v", err)
	}
	var errs []error
	check := func(what string, err error) {
		if !errors.Is(err, net.ErrClosed) {
			errs = append(errs, fmt.Errorf("%s after Close: %v, want net.ErrClosed", what, err))
		}
	}
	_, err := c.Read(make([]byte, 1))
	check("Read", err)
	_, err = c.Write([]byte("x"))
	check("Write", err)
	soon := time.Now().Add(time.Minute)
	check("SetDeadline", c.SetDeadline(soon))
	check("SetReadDeadline", c.SetReadDeadline(soon))
	check("SetWriteDeadline", c.SetWriteDeadline(soon))
	if err := c.Close(); err != nil {
		errs = append(errs, fmt.Errorf("second Close: %v, want nil", err))
	}
	return errors.Join(errs...)
}

// The Conn of a protocol fails every operation after its Close with
// net.ErrClosed, on an HTTP/1.1 connection and on an HTTP/2 stream alike:
// the stream's deadline setters returned nil after the Close, where a
// TCPConn's (the same Conn on HTTP/1.1) return net.ErrClosed.
func TestConnErrorsAfterClose(t *testing.T) {
	serve := func(t *testing.T) (*negotiate.Registry, <-chan error) {
		errs := make(chan error, 1)
		reg := new(negotiate.Registry)
		reg.HandleFunc("closed/1", func(c *negotiate.Conn) error {
			errs <- afterClose(c)
			return nil
		})
		return reg, errs
	}
	t.Run("http/1.1", func(t *testing.T) {
		reg, errs := serve(t)
		n := testkit.NewNegotiator(t, nil)
		srv := testkit.StartServer(t, n.Endpoint(reg))
		c, _ := testkit.Dial(t, srv.URL, []string{"closed/1"}, nil)
		defer c.Close()
		if err := testkit.Receive(t, errs, "the protocol's errors"); err != nil {
			t.Error(err)
		}
	})
	testkit.EachXConnect(t, func(t *testing.T, useTLS bool) {
		reg, errs := serve(t)
		n := testkit.NewNegotiator(t, nil)
		s := startXServer(t, n.Endpoint(reg), n, useTLS)
		st, _, err := s.dial(t, "/", "closed/1", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		if err := testkit.Receive(t, errs, "the protocol's errors"); err != nil {
			t.Error(err)
		}
	})
}
