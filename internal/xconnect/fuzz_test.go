package xconnect_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/switchyard-http/switchyard/internal/testkit"
	"github.com/switchyard-http/switchyard/internal/xconnect"
)

// A script is the frames a fuzzed server sends: each is a type, flags, a
// stream (0, 1 or 3 for 0, 1 and 2; the byte itself above), a payload
// length and the payload, which the script is cut into.
func script(frames ...any) []byte {
	var b []byte
	for i := 0; i < len(frames); i += 4 {
		p := frames[i+3].([]byte)
		b = append(b, byte(frames[i].(http2.FrameType)), byte(frames[i+1].(http2.Flags)), byte(frames[i+2].(int)), byte(len(p)))
		b = append(b, p...)
	}
	return b
}

// frames turns a script into frames on the wire.
func frames(s []byte) []byte {
	var b bytes.Buffer
	fr := http2.NewFramer(&b, nil)
	for len(s) >= 4 {
		typ, flags, sel, n := s[0], s[1], s[2], int(s[3])
		s = s[4:]
		n = min(n, len(s))
		stream := uint32(sel)
		if sel == 2 {
			stream = 3
		}
		_ = fr.WriteRawFrame(http2.FrameType(typ), http2.Flags(flags), stream, s[:n])
		s = s[n:]
	}
	return b.Bytes()
}

func setting(id http2.SettingID, v uint32) []byte {
	return binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint16(nil, uint16(id)), v)
}

func u32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

// The server's answer after the script: a 200 (HPACK's static :status
// 200), a window of a MiB on the connection and stream 1, and the end of
// stream 1 after "end" (sent whether or not the script ended it).
var (
	head200 = []byte{0x88}
	grant   = 1 << 20
)

// FuzzServerFrames has a server answer an extended CONNECT with fuzzed
// frames, then a 200, a window of a MiB and the end of the stream. What
// the client does is bounded and loses nothing: Dial returns without
// waiting for its timeout; on a stream, a Write of 1000 bytes returns
// (written or failed) within the bound, in DATA frames that each carry
// bytes, and what the server gets is what was written; reads end, and
// return the DATA the server sent on the stream up to its end, in order,
// all of it when they end with io.EOF.
func FuzzServerFrames(f *testing.F) {
	for _, s := range [][]byte{
		nil,
		script(http2.FrameHeaders, http2.FlagHeadersEndHeaders, 1, []byte{0x08, 0x03, '1', '0', '3'}),
		script(http2.FrameData, http2.Flags(0), 1, []byte("hello"), http2.FrameData, http2.FlagDataPadded, 1, []byte{2, 'x', 0, 0}),
		script(http2.FrameHeaders, http2.FlagHeadersEndHeaders, 1, head200, http2.FrameData, http2.FlagDataEndStream, 1, []byte("bye"),
			http2.FrameData, http2.Flags(0), 1, []byte("after the end")),
		script(http2.FrameSettings, http2.Flags(0), 0, setting(http2.SettingMaxFrameSize, 1<<14)),
		script(http2.FrameSettings, http2.Flags(0), 0, setting(http2.SettingMaxFrameSize, 0)),
		script(http2.FrameSettings, http2.Flags(0), 0, setting(http2.SettingInitialWindowSize, 0)),
		script(http2.FrameSettings, http2.Flags(0), 0, setting(http2.SettingInitialWindowSize, 1<<31-1)),
		script(http2.FrameWindowUpdate, http2.Flags(0), 0, u32(1<<31-1-65535)),
		script(http2.FrameWindowUpdate, http2.Flags(0), 1, u32(1<<31-1-65535)),
		script(http2.FrameRSTStream, http2.Flags(0), 1, u32(uint32(http2.ErrCodeCancel))),
		script(http2.FrameGoAway, http2.Flags(0), 0, append(u32(0), u32(0)...)),
		script(http2.FramePing, http2.Flags(0), 0, make([]byte, 8)),
		script(http2.FrameHeaders, http2.Flags(0), 1, []byte{0x08}),
		script(http2.FrameHeaders, http2.FlagHeadersEndHeaders|http2.FlagHeadersEndStream, 1, []byte{0x08, 0x03, '4', '0', '3'}),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s []byte) {
		raw := frames(s)
		srv := newScriptServer(t, raw)
		c := xconnect.New(nil)
		c.HandshakeTimeout = testkit.Timeout
		defer c.CloseIdleConnections()
		st, _, err := c.Dial(context.Background(), srv.url, "echo/1", nil)
		if errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Dial waited for its timeout: %v", err)
		}
		if err != nil {
			return
		}
		defer st.Close()

		msg := bytes.Repeat([]byte("0123456789"), 100)
		wrote := make(chan error, 1)
		var n int
		go func() {
			var err error
			if n, err = st.Write(msg); err == nil {
				err = st.CloseWrite()
			}
			wrote <- err
		}()
		var werr error
		select {
		case werr = <-wrote:
		case <-time.After(testkit.Timeout):
			t.Fatalf("a Write of %d bytes still going after %v; the server has seen %d DATA frames", len(msg), testkit.Timeout, srv.frames())
		}
		got, ended, empty := srv.received(werr == nil)
		if empty > 0 {
			t.Fatalf("the client sent %d DATA frames without a byte or the end of the stream", empty)
		}
		if !bytes.HasPrefix(msg[:n], got) || ended && !bytes.Equal(got, msg[:n]) {
			t.Fatalf("wrote %d bytes (%v); the server got %d (ended: %v)", n, werr, len(got), ended)
		}

		_ = st.SetReadDeadline(time.Now().Add(testkit.Timeout))
		read, rerr := io.ReadAll(st)
		if errors.Is(rerr, os.ErrDeadlineExceeded) {
			t.Fatalf("reads did not end: %q, %v", read, rerr)
		}
		want := sentData(raw)
		if !bytes.HasPrefix(want, read) || rerr == nil && !bytes.Equal(read, want) {
			t.Fatalf("read %q (%v); the server sent %q", read, rerr, want)
		}
	})
}

// sentData is what the server sends on stream 1 up to its end, by x/net's
// reading of it: the DATA of the script (padding aside) up to the first
// frame that ends the stream, or all of it and "end".
func sentData(raw []byte) []byte {
	fr := http2.NewFramer(nil, bytes.NewReader(raw))
	var data []byte
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			return append(data, "end"...)
		}
		if f.Header().StreamID != 1 {
			continue
		}
		switch f := f.(type) {
		case *http2.DataFrame:
			data = append(data, f.Data()...)
			if f.StreamEnded() {
				return data
			}
		case *http2.HeadersFrame:
			if f.StreamEnded() {
				return data
			}
		}
	}
}

// scriptServer is an h2c server with prior knowledge, advertising
// extended CONNECT, that answers the first request with raw and then
// head200, the grants and the end of stream 1, and records the DATA the
// client sends on stream 1.
type scriptServer struct {
	url string

	mu     sync.Mutex
	data   []byte
	n      int           // DATA frames on stream 1
	empty  int           // of them, those with no byte and no END_STREAM
	end    bool          // the client ended stream 1
	over   bool          // it ended or reset it
	done   chan struct{} // closed when it is over
	closed <-chan struct{}
}

// finish marks stream 1 over, ended by the client or not; s.mu is held.
func (s *scriptServer) finish(end bool) {
	s.end = s.end || end && !s.over
	if !s.over {
		s.over = true
		close(s.done)
	}
}

func newScriptServer(t *testing.T, raw []byte) *scriptServer {
	s := &scriptServer{done: make(chan struct{})}
	s.url, s.closed = fakeH2Server(t, func(p *h2Peer, f http2.Frame) bool {
		switch f := f.(type) {
		case *http2.HeadersFrame:
			if f.StreamID != 1 {
				break
			}
			// From another goroutine, so that this one goes on reading.
			p.spawn(func() {
				_ = p.write(func() error {
					if _, err := p.c.Write(raw); err != nil {
						return err
					}
					if err := p.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: head200, EndHeaders: true}); err != nil {
						return err
					}
					if err := p.fr.WriteWindowUpdate(0, uint32(grant)); err != nil {
						return err
					}
					if err := p.fr.WriteWindowUpdate(1, uint32(grant)); err != nil {
						return err
					}
					return p.fr.WriteData(1, true, []byte("end"))
				})
			})
		case *http2.DataFrame:
			if f.StreamID != 1 {
				break
			}
			s.mu.Lock()
			s.n++
			s.data = append(s.data, f.Data()...)
			if len(f.Data()) == 0 && !f.StreamEnded() {
				s.empty++
			}
			if f.StreamEnded() {
				s.finish(true)
			}
			s.mu.Unlock()
		case *http2.RSTStreamFrame:
			if f.StreamID == 1 {
				s.mu.Lock()
				s.finish(false)
				s.mu.Unlock()
			}
		}
		return true
	})
	return s
}

func (s *scriptServer) frames() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

// received returns what the client sent on stream 1, once it is over
// when wait is set (or the connection, or the bound), and whether the
// client ended it (END_STREAM, not RST_STREAM).
func (s *scriptServer) received(wait bool) (data []byte, ended bool, empty int) {
	if wait {
		select {
		case <-s.done:
		case <-s.closed:
		case <-time.After(testkit.Timeout):
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.data), s.end, s.empty
}
