package negotiate_test

import (
	"io"
	"testing"
	"time"

	"github.com/switchyard-http/switchyard/internal/testkit"
	"github.com/switchyard-http/switchyard/negotiate"
)

// The defaults the Options fields and the README's table of defaults
// promise.
func TestOptionDefaults(t *testing.T) {
	t.Parallel()
	o := negotiate.ResolvedOptions(testkit.NewNegotiator(t, nil))
	for _, d := range []struct {
		name      string
		got, want time.Duration
	}{
		{"RetryAfter", o.RetryAfter, time.Second},
		{"HandshakeTimeout", o.HandshakeTimeout, 10 * time.Second},
		{"Linger", o.Linger, 2 * time.Second},
		{"ShutdownTimeout", o.ShutdownTimeout, 10 * time.Second},
	} {
		if d.got != d.want {
			t.Errorf("default %s = %v, want %v", d.name, d.got, d.want)
		}
	}
	if o.MaxConns != 0 || len(o.ProtocolMaxConns) != 0 {
		t.Errorf("default limits = %d, %v; want none", o.MaxConns, o.ProtocolMaxConns)
	}
	if o.Responder == nil {
		t.Error("no default Responder")
	}
}

// The close discards at most 1 MiB of what the client still sends: a
// client that keeps sending does not hold the connection for the whole
// Linger.
func TestLingerDrainIsBoundedInBytes(t *testing.T) {
	t.Parallel()
	infos := testkit.NewConnInfos()
	reg := new(negotiate.Registry)
	reg.HandleFunc("short", func(c *negotiate.Conn) error { return nil })
	n, srv := testkit.Endpoint(t, &negotiate.Options{Linger: time.Hour, OnClose: infos.Hook}, reg)
	c, _ := testkit.Dial(t, srv.URL, []string{"short"}, nil)
	if b, err := io.ReadAll(c); err != nil || len(b) != 0 {
		t.Fatalf("after the half-close: %q, %v; want the end of the stream", b, err)
	}
	sent := make(chan int64, 1)
	go func() {
		// Up to 8 MiB, until the server's close makes a write fail.
		var total int64
		chunk := make([]byte, 64<<10)
		for total < 8<<20 {
			k, err := c.Write(chunk)
			total += int64(k)
			if err != nil {
				break
			}
		}
		sent <- total
	}()
	info := infos.Next(t) // within testkit.Timeout, not the hour of Linger
	if info.Err != nil {
		t.Errorf("OnClose error = %v, want nil", info.Err)
	}
	if total := testkit.Receive(t, sent, "the client's writes to fail"); total < 1<<20 {
		t.Errorf("the client sent %d bytes before the close, want more than the 1 MiB bound", total)
	}
	if s := n.Stats(); s.Active["short"] != 0 {
		t.Errorf("active after the close = %d, want 0", s.Active["short"])
	}
}

// The 1 MiB the close discards, exactly (Options.Linger's doc): a client
// that has sent 1 MiB since the serve func returned, and then stops
// without closing, is closed at once, not after Linger, and without a
// reset, since nothing it sent is left unread: its next write still
// goes out. A larger bound waits for more, a smaller one leaves input
// unread and resets the connection (the client's write then fails).
func TestLingerDrainsOneMiB(t *testing.T) {
	t.Parallel()
	infos := testkit.NewConnInfos()
	reg := new(negotiate.Registry)
	reg.HandleFunc("short", func(c *negotiate.Conn) error { return nil })
	_, srv := testkit.Endpoint(t, &negotiate.Options{Linger: time.Hour, OnClose: infos.Hook}, reg)
	c, _ := testkit.Dial(t, srv.URL, []string{"short"}, nil)
	if b, err := io.ReadAll(c); err != nil || len(b) != 0 {
		t.Fatalf("after the half-close: %q, %v; want the end of the stream", b, err)
	}
	sent := make(chan error, 1)
	go func() {
		_, err := c.Write(make([]byte, 1<<20))
		sent <- err
	}()
	info := infos.Next(t) // within testkit.Timeout, not the hour of Linger
	if info.Err != nil {
		t.Errorf("OnClose error = %v, want nil", info.Err)
	}
	if err := testkit.Receive(t, sent, "the client's 1 MiB to be sent"); err != nil {
		t.Fatalf("the client's 1 MiB: %v", err)
	}
	if _, err := c.Write([]byte("x")); err != nil {
		t.Errorf("a write after the close: %v; want it to go out, as nothing the client sent was left unread", err)
	}
}
