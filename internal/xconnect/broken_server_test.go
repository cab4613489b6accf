package xconnect_test

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/switchyard-http/switchyard/internal/testkit"
	"github.com/switchyard-http/switchyard/internal/xconnect"
)

// A server that breaks RFC 9113 after the client's request, by the frames
// of a script (see FuzzServerFrames, which found each of these), then
// sends a 200, a window of a MiB on the connection and the stream, and the
// end of the stream after "end".

// dialScript opens a stream to a server that answers with the script's
// frames first.
func dialScript(t *testing.T, s []byte) (*scriptServer, *xconnect.Stream, error) {
	t.Helper()
	srv := newScriptServer(t, frames(s))
	c := xconnect.New(nil)
	c.HandshakeTimeout = testkit.Timeout
	t.Cleanup(c.CloseIdleConnections)
	st, _, err := c.Dial(context.Background(), srv.url, "echo/1", nil)
	if st != nil {
		t.Cleanup(func() { st.Close() })
		_ = st.SetReadDeadline(time.Now().Add(testkit.Timeout))
	}
	return srv, st, err
}

// A head without a :status fails the stream, which is reset: the 200 that
// follows does not answer it (audit: it closed the head's channel a second
// time, a panic that ended the process, switchyard probe -h2 included).
func TestHeadWithoutStatus(t *testing.T) {
	t.Parallel()
	_, st, err := dialScript(t, script(http2.FrameHeaders, http2.FlagHeadersEndHeaders, 1, []byte{}))
	if st != nil || err == nil || err.Error() != `xconnect: bad :status ""` {
		t.Fatalf("Dial = stream %v, %v; want no stream and the error bad :status", st != nil, err)
	}
}

// SETTINGS_MAX_FRAME_SIZE under 16384 is a connection error (RFC 9113
// §6.5.2): the stream fails before anything is written (audit: a value of
// 0 had Write send empty DATA frames without end, 1.4 million in 10 s).
func TestInvalidSettings(t *testing.T) {
	t.Parallel()
	srv, st, err := dialScript(t, script(http2.FrameSettings, http2.Flags(0), 0, setting(http2.SettingMaxFrameSize, 0)))
	var ce http2.ConnectionError
	if st != nil || !errors.As(err, &ce) || http2.ErrCode(ce) != http2.ErrCodeProtocol {
		t.Fatalf("Dial = stream %v, %v; want no stream and a connection error PROTOCOL_ERROR", st != nil, err)
	}
	if n := srv.frames(); n != 0 {
		t.Errorf("the client sent %d DATA frames", n)
	}
}

// A flow-control window past 2^31-1 ends the stream or the connection with
// FLOW_CONTROL_ERROR (RFC 9113 §6.9.1, §6.9.2): the server's grant of a
// MiB on a window it had already opened to the maximum (audit: the window
// wrapped round to a negative one, on which a Write waited for ever, and
// the stream went on as if nothing had happened).
func TestWindowPastMaximum(t *testing.T) {
	t.Parallel()
	const max = 1<<31 - 1
	for _, tc := range []struct {
		name   string
		script []byte
		conn   bool // a connection error, else a stream error
	}{
		{"connection window", script(http2.FrameWindowUpdate, http2.Flags(0), 0, u32(max-65535)), true},
		{"stream window", script(http2.FrameWindowUpdate, http2.Flags(0), 1, u32(max-65535)), false},
		{"stream window by the initial window size", script(http2.FrameSettings, http2.Flags(0), 0, setting(http2.SettingInitialWindowSize, max)), false},
		{"initial window size past a stream's window", script(http2.FrameWindowUpdate, http2.Flags(0), 1, u32(max-65535),
			http2.FrameSettings, http2.Flags(0), 0, setting(http2.SettingInitialWindowSize, 65536)), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, st, err := dialScript(t, tc.script)
			if err != nil {
				if !tc.conn {
					t.Fatalf("Dial: %v", err)
				}
				// The connection may fail before the 200 comes.
				st = nil
			}
			if st != nil {
				var read []byte
				read, err = io.ReadAll(st)
				if err == nil {
					t.Fatalf("read %q and the end of the stream; want FLOW_CONTROL_ERROR", read)
				}
				wrote := make(chan error, 1)
				go func() { _, err := st.Write([]byte("x")); wrote <- err }()
				if werr := testkit.Receive(t, wrote, "a Write on the failed stream"); werr == nil {
					t.Errorf("a Write on the failed stream succeeded")
				}
			}
			var ce http2.ConnectionError
			var se http2.StreamError
			switch {
			case tc.conn && (!errors.As(err, &ce) || http2.ErrCode(ce) != http2.ErrCodeFlowControl):
				t.Errorf("%v, want a connection error FLOW_CONTROL_ERROR", err)
			case !tc.conn && (!errors.As(err, &se) || se.Code != http2.ErrCodeFlowControl):
				t.Errorf("%v, want a stream error FLOW_CONTROL_ERROR", err)
			}
		})
	}
}

// DATA after the end of the stream is not the stream's (RFC 9113 §5.1):
// the reader gets what came before the end, then io.EOF (audit: it got
// whatever came after it too).
func TestDataAfterEnd(t *testing.T) {
	t.Parallel()
	_, st, err := dialScript(t, script(http2.FrameHeaders, http2.FlagHeadersEndHeaders, 1, head200,
		http2.FrameData, http2.FlagDataEndStream, 1, []byte("bye"), http2.FrameData, http2.Flags(0), 1, []byte("after the end")))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := io.ReadAll(st); err != nil || string(got) != "bye" {
		t.Errorf("read %q, %v; want %q and the end", got, err, "bye")
	}
}
