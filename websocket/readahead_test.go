package websocket_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	gws "github.com/gorilla/websocket"

	"github.com/switchyard-http/switchyard/internal/testkit"
	"github.com/switchyard-http/switchyard/internal/wstest"
	"github.com/switchyard-http/switchyard/negotiate"
	"github.com/switchyard-http/switchyard/websocket"
)

// aheadState is what a handler saw of its reads after one message.
type aheadState struct {
	msg            string
	buffered, lent int
	socket         bool
	reader         int // the size of gorilla's reader
}

func (s aheadState) String() string {
	return fmt.Sprintf("%.8q: %d bytes ahead in a lent buffer of %d (socket %v), gorilla's reader %d bytes", s.msg, s.buffered, s.lent, s.socket, s.reader)
}

// recordingAhead is a handler that reads messages and reports, after
// each, what its reads hold.
func recordingAhead(states chan<- aheadState) func(*websocket.Conn) error {
	return func(c *websocket.Conn) error {
		for {
			_, msg, err := c.ReadMessage()
			if err != nil {
				return err
			}
			b, l, s := websocket.ReadAhead(c)
			states <- aheadState{string(msg), b, l, s, gorillaReaderSize(c)}
		}
	}
}

// On a socket, bytes that arrive together are read at once into a buffer
// lent for as long as some of them wait: gorilla's own reader takes 288
// bytes at a time, so of three 200-byte messages in one segment the lent
// buffer still holds some after the first message, and it is given back
// once they are all taken, so that a connection waiting for its next
// message holds none. Every byte read that way is counted.
func TestReadAheadLendsTheBufferOnlyWhileBytesWait(t *testing.T) {
	t.Parallel()
	states := make(chan aheadState, 8)
	s := newServer(t, nil, nil, recordingAhead(states))
	c, _ := wstest.Dial(t, nil, s.ws("/ws"), nil)

	var burst []byte
	msgs := []string{strings.Repeat("1", 200), strings.Repeat("2", 200), strings.Repeat("3", 200)}
	for _, m := range msgs {
		burst = append(burst, wstest.ClientFrame(0x81, []byte(m))...)
	}
	closeFrame := wstest.ClientFrame(0x88, gws.FormatCloseMessage(gws.CloseNormalClosure, ""))
	if _, err := c.NetConn().Write(burst); err != nil {
		t.Fatal(err)
	}
	for i, m := range msgs {
		var got aheadState
		select {
		case got = <-states:
		case <-time.After(10 * time.Second):
			t.Fatalf("no message %d", i+1)
		}
		switch {
		case got.msg != m || !got.socket || got.reader != 288:
			t.Errorf("message %d: %s, want %.8q read ahead from the socket through a reader of 288", i+1, got, m)
		case i == 0 && (got.buffered == 0 || got.lent != 4096):
			t.Errorf("after the first message: %s, want the rest of the segment in a lent buffer of 4096", got)
		case i == len(msgs)-1 && (got.buffered != 0 || got.lent != 0):
			t.Errorf("after the last message: %s, want no lent buffer", got)
		}
	}
	if _, err := c.NetConn().Write(closeFrame); err != nil {
		t.Fatal(err)
	}
	wstest.WantClose(t, c, gws.CloseNormalClosure)
	if ci, sent := s.closes.Next(t), int64(len(burst)+len(closeFrame)); ci.BytesIn != sent {
		t.Errorf("BytesIn %d, want the %d bytes the client sent", ci.BytesIn, sent)
	}
}

// Over TLS (net/http's, not a socket of its own) the connection reads
// through a buffer it holds for its life: 1024 bytes by default, or
// ReadBufferSize if set (4096: net/http's own), of at least 288 bytes.
func TestReadBufferWithoutSocket(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ size, reader int }{{0, 1024}, {4096, 4096}, {2000, 2000}, {1, 288}} {
		states := make(chan aheadState, 8)
		p, err := websocket.New(&websocket.Options{ReadBufferSize: tc.size}, recordingAhead(states))
		if err != nil {
			t.Fatal(err)
		}
		n := testkit.NewNegotiator(t, nil)
		var reg negotiate.Registry
		reg.Register("websocket", p)
		srv := httptest.NewUnstartedServer(n.Endpoint(&reg))
		srv.StartTLS()
		t.Cleanup(srv.Close)
		d := &gws.Dialer{TLSClientConfig: srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone(), HandshakeTimeout: 10 * time.Second}
		d.TLSClientConfig.NextProtos = nil
		c, _ := wstest.Dial(t, d, wstest.URL(srv.URL, "/"), nil)
		if err := c.WriteMessage(gws.TextMessage, []byte("hello")); err != nil {
			t.Fatal(err)
		}
		select {
		case got := <-states:
			if want := (aheadState{"hello", 0, 0, false, tc.reader}); got != want {
				t.Errorf("ReadBufferSize %d over TLS: after %s, want %s", tc.size, got, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no message")
		}
		wstest.CloseNormally(t, c)
	}
}
