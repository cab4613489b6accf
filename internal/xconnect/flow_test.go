package xconnect_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/switchyard-http/switchyard/internal/testkit"
	"github.com/switchyard-http/switchyard/internal/xconnect"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// The window the client advertises for a stream (SETTINGS_INITIAL_WINDOW_SIZE).
const streamWindow = 4 << 20

// floodServer is an h2c server with prior knowledge that switches every
// extended CONNECT (200) and then sends total bytes of DATA on the stream
// in frames of frame bytes (pad of them padding), without waiting for the
// client's window, then a PING; it reports on sent when the client has
// answered the PING (so it has taken every frame before it), and on reset
// the code of the client's RST_STREAM for the stream.
func floodServer(t *testing.T, total, frame, pad int) (url string, sent <-chan struct{}, reset <-chan http2.ErrCode) {
	t.Helper()
	sentc, resetc := make(chan struct{}), make(chan http2.ErrCode, 1)
	url, _ = fakeH2Server(t, func(p *h2Peer, f http2.Frame) bool {
		switch f := f.(type) {
		case *http2.PingFrame:
			if f.IsAck() {
				close(sentc)
			}
		case *http2.RSTStreamFrame:
			resetc <- f.ErrCode
		case *http2.HeadersFrame:
			var b bytes.Buffer
			_ = hpack.NewEncoder(&b).WriteField(hpack.HeaderField{Name: ":status", Value: "200"})
			if p.write(func() error {
				return p.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: f.StreamID, BlockFragment: b.Bytes(), EndHeaders: true})
			}) != nil {
				return false
			}
			// The frames are written from another goroutine, so that
			// this one goes on reading what the client sends.
			id := f.StreamID
			p.spawn(func() {
				data := bytes.Repeat([]byte("d"), frame-pad)
				var padding []byte // nil: not padded
				if pad > 0 {
					data, padding = data[:frame-pad-1], make([]byte, pad) // the pad length byte counts too
				}
				for left := total; left > 0; left -= frame {
					if p.write(func() error { return p.fr.WriteDataPadded(id, false, data, padding) }) != nil {
						return
					}
				}
				_ = p.write(func() error { return p.fr.WritePing(false, [8]byte{'s', 'e', 'n', 't'}) })
			})
		}
		return true
	})
	return url, sentc, resetc
}

// dial opens a stream to url and waits for the server to have sent its
// DATA, before anything is read (so that no window is given back).
func dial(t *testing.T, url string, sent <-chan struct{}) *xconnect.Stream {
	t.Helper()
	c := xconnect.New(nil)
	t.Cleanup(c.CloseIdleConnections)
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Timeout)
	defer cancel()
	st, _, err := c.Dial(ctx, url, "echo/1", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	select {
	case <-sent:
	case <-time.After(testkit.Timeout):
		t.Fatal("the server did not send its DATA")
	}
	_ = st.SetReadDeadline(time.Now().Add(testkit.Timeout))
	return st
}

// A server may send up to the window the client advertised, padding
// included, before the client reads: all of it is read.
func TestFlowWithinWindow(t *testing.T) {
	t.Parallel()
	const frame, pad = 16 << 10, 100
	url, sent, _ := floodServer(t, streamWindow, frame, pad)
	st := dial(t, url, sent)
	want := streamWindow / frame * (frame - pad - 1)
	n, err := io.CopyN(io.Discard, st, int64(want))
	if err != nil || n != int64(want) {
		t.Errorf("read %d bytes, %v; want the %d bytes sent within the window", n, err, want)
	}
}

// A server that sends past the window the client advertised for a stream
// breaks flow control (RFC 9113 §6.9.1): the stream fails with
// FLOW_CONTROL_ERROR and is reset with it, and what the server sent is not
// kept (audit: the client buffered whatever came, so a server that ignores
// flow control could grow its memory without bound).
func TestFlowPastWindow(t *testing.T) {
	t.Parallel()
	const frame = 16 << 10
	url, sent, reset := floodServer(t, streamWindow+frame, frame, 0)
	st := dial(t, url, sent)
	n, err := io.Copy(io.Discard, st)
	var se http2.StreamError
	if !errors.As(err, &se) || se.Code != http2.ErrCodeFlowControl {
		t.Errorf("read %d bytes, then %v; want a stream error FLOW_CONTROL_ERROR", n, err)
	}
	if n > streamWindow {
		t.Errorf("read %d bytes, more than the %d-byte window", n, streamWindow)
	}
	select {
	case code := <-reset:
		if code != http2.ErrCodeFlowControl {
			t.Errorf("the client reset the stream with %v, want FLOW_CONTROL_ERROR", code)
		}
	case <-time.After(testkit.Timeout):
		t.Error("the client did not reset the stream")
	}
}
