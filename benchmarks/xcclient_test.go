package benchmarks

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// The HTTP/2 client of the WebSocket benchmarks: a minimal client on x/net's
// Framer and HPACK (net/http's Transport refuses :protocol, and x/net's
// Transport adds a goroutine and a pipe per stream on the client's side,
// which the raw HTTP/1.1 client does not have) that opens extended CONNECT
// streams (RFC 8441) with :protocol websocket, over TLS (h2) or cleartext
// with prior knowledge (h2c), and carries each stream's bytes in DATA
// frames. It starts no goroutine: whichever caller needs a frame reads the
// next one and hands it to its stream, while the others wait (so several
// goroutines may use streams of one connection at once). It honours the
// server's flow control and reopens its own windows as they are used.

// xcStreamWindow and xcConnWindow are the receive windows the client
// opens: 32 MiB per stream (curl's) and 1 GiB for the connection.
const (
	xcStreamWindow = 32 << 20
	xcConnWindow   = 1 << 30
	xcMaxFrame     = 16 << 10 // the DATA frames the client sends
)

// xcDialer opens HTTP/2 connections to one server.
type xcDialer struct {
	addr  string
	tls   *tls.Config // nil: h2c with prior knowledge
	block []byte      // the HPACK block of every extended CONNECT
}

func newXCDialer(addr string, tlsConf *tls.Config) *xcDialer {
	scheme := "http"
	if tlsConf != nil {
		scheme = "https"
		tlsConf = tlsConf.Clone()
		tlsConf.NextProtos = []string{"h2"}
	}
	// Literals never indexed: the same block is valid on every stream
	// and every connection, and leaves the server's dynamic table alone.
	var buf bytes.Buffer
	enc := hpack.NewEncoder(&buf)
	for _, f := range []hpack.HeaderField{
		{Name: ":method", Value: "CONNECT"}, {Name: ":protocol", Value: "websocket"},
		{Name: ":scheme", Value: scheme}, {Name: ":path", Value: "/ws"},
		{Name: ":authority", Value: addr}, {Name: "sec-websocket-version", Value: "13"},
	} {
		f.Sensitive = true
		_ = enc.WriteField(f)
	}
	return &xcDialer{addr: addr, tls: tlsConf, block: buf.Bytes()}
}

// xcConn is one HTTP/2 connection of the client.
type xcConn struct {
	tc  *net.TCPConn
	nc  net.Conn // tc, or a *tls.Conn over it
	fr  *http2.Framer
	bw  *bufio.Writer
	dec *hpack.Decoder
	d   *xcDialer
	ops atomic.Int64

	wmu sync.Mutex // the Framer's writes and bw; taken after mu, never before

	mu       sync.Mutex
	cond     sync.Cond
	reading  bool  // a caller is reading a frame
	err      error // the connection has failed
	streams  map[uint32]*xcStream
	next     uint32
	initWin  int64 // the server's initial stream window
	sendWin  int64 // the connection's send window
	recvWin  int64 // the connection's receive window left
	xconnect bool  // the server's SETTINGS_ENABLE_CONNECT_PROTOCOL
	settings bool  // the server's SETTINGS have come
	decoding *xcStream
}

// xcStream is one extended CONNECT stream.
type xcStream struct {
	c       *xcConn
	id      uint32
	status  string
	headers bool   // the response head has come
	buf     []byte // received, unread from r on
	r       int
	ended   bool  // END_STREAM received
	reset   error // RST_STREAM received
	sendWin int64
	recvWin int64
	ws      wsReader
}

// dial opens a connection: TCP, TLS with ALPN h2 unless h2c, the preface
// and SETTINGS, and waits for the server's SETTINGS, which must allow
// extended CONNECT. Reads and writes have a deadline of now+ioTimeout,
// moved every 1024 messages.
func (d *xcDialer) dial() (*xcConn, error) {
	tc, nc, err := dialTimed(d.addr, d.tls)
	if err != nil {
		return nil, err
	}
	c := &xcConn{tc: tc, nc: nc, d: d, streams: map[uint32]*xcStream{},
		next: 1, initWin: 65535, sendWin: 65535, recvWin: xcConnWindow}
	c.cond.L = &c.mu
	if tlc, ok := nc.(*tls.Conn); ok {
		if p := tlc.ConnectionState().NegotiatedProtocol; p != "h2" {
			c.abort()
			return nil, fmt.Errorf("ALPN chose %q, want h2", p)
		}
	}
	c.bw = bufio.NewWriterSize(c.nc, 32<<10)
	c.fr = http2.NewFramer(c.bw, bufio.NewReaderSize(c.nc, 32<<10))
	c.fr.SetReuseFrames() // handle copies what it keeps
	c.dec = hpack.NewDecoder(4096, func(f hpack.HeaderField) {
		if f.Name == ":status" && c.decoding != nil {
			c.decoding.status = f.Value
		}
	})
	_, err = c.bw.WriteString(http2.ClientPreface)
	if err == nil {
		err = c.fr.WriteSettings(
			http2.Setting{ID: http2.SettingEnablePush, Val: 0},
			http2.Setting{ID: http2.SettingInitialWindowSize, Val: xcStreamWindow})
	}
	if err == nil {
		err = c.fr.WriteWindowUpdate(0, xcConnWindow-65535)
	}
	if err == nil {
		err = c.bw.Flush()
	}
	if err == nil {
		c.mu.Lock()
		err = c.wait(nil, waitSettings)
		c.mu.Unlock()
	}
	if err == nil && !c.xconnect {
		err = fmt.Errorf("the server does not allow extended CONNECT (is %s in its environment?)", "GODEBUG=http2xconnect=1")
	}
	if err != nil {
		c.abort()
		return nil, err
	}
	return c, nil
}

// What wait waits for.
const (
	waitSettings = iota
	waitHead
	waitData
	waitWindow
)

// ready reports whether what is awaited has come; c.mu is held.
func (c *xcConn) ready(s *xcStream, what int) bool {
	switch what {
	case waitSettings:
		return c.settings
	case waitHead:
		return s.headers || s.reset != nil
	case waitData:
		return s.r < len(s.buf) || s.ended || s.reset != nil
	default: // waitWindow
		return (s.sendWin > 0 && c.sendWin > 0) || s.reset != nil
	}
}

// wait returns when what has come for s, reading frames itself whenever
// no other caller is; c.mu is held.
func (c *xcConn) wait(s *xcStream, what int) error {
	for !c.ready(s, what) {
		if c.err != nil {
			return c.err
		}
		if c.reading {
			c.cond.Wait()
			continue
		}
		c.reading = true
		c.mu.Unlock()
		f, err := c.fr.ReadFrame()
		c.mu.Lock()
		c.reading = false
		if err == nil {
			err = c.handle(f)
		}
		if err != nil {
			c.err = err
		}
		c.cond.Broadcast()
	}
	return nil
}

// handle takes in one frame; c.mu is held.
func (c *xcConn) handle(f http2.Frame) error {
	switch f := f.(type) {
	case *http2.SettingsFrame:
		if f.IsAck() {
			return nil
		}
		err := f.ForeachSetting(func(st http2.Setting) error {
			switch st.ID {
			case http2.SettingInitialWindowSize:
				delta := int64(st.Val) - c.initWin
				c.initWin = int64(st.Val)
				for _, s := range c.streams {
					s.sendWin += delta
				}
			case http2.SettingEnableConnectProtocol:
				c.xconnect = st.Val == 1
			}
			return nil
		})
		if err != nil {
			return err
		}
		c.settings = true
		return c.write(func() error { return c.fr.WriteSettingsAck() })
	case *http2.PingFrame:
		if f.IsAck() {
			return nil
		}
		return c.write(func() error { return c.fr.WritePing(true, f.Data) })
	case *http2.GoAwayFrame:
		return fmt.Errorf("GOAWAY %v", f.ErrCode)
	case *http2.WindowUpdateFrame:
		if f.StreamID == 0 {
			c.sendWin += int64(f.Increment)
		} else if s := c.streams[f.StreamID]; s != nil {
			s.sendWin += int64(f.Increment)
		}
	case *http2.RSTStreamFrame:
		if s := c.streams[f.StreamID]; s != nil {
			s.reset = http2.StreamError{StreamID: f.StreamID, Code: f.ErrCode}
		}
	case *http2.HeadersFrame:
		if !f.HeadersEnded() {
			return errors.New("CONTINUATION not supported by the bench client")
		}
		s := c.streams[f.StreamID]
		c.decoding = s
		_, err := c.dec.Write(f.HeaderBlockFragment())
		if err == nil {
			err = c.dec.Close()
		}
		c.decoding = nil
		if err != nil {
			return err
		}
		if s != nil {
			s.headers = true
			s.ended = s.ended || f.StreamEnded()
		}
	case *http2.DataFrame:
		n := int64(f.Length)
		if c.recvWin -= n; c.recvWin < xcConnWindow/2 {
			inc := xcConnWindow - c.recvWin
			c.recvWin = xcConnWindow
			if err := c.write(func() error { return c.fr.WriteWindowUpdate(0, uint32(inc)) }); err != nil {
				return err
			}
		}
		s := c.streams[f.StreamID]
		if s == nil {
			return nil
		}
		s.buf = append(s.buf, f.Data()...)
		s.ended = s.ended || f.StreamEnded()
		if s.recvWin -= n; s.recvWin < xcStreamWindow/2 {
			inc := xcStreamWindow - s.recvWin
			s.recvWin = xcStreamWindow
			return c.write(func() error { return c.fr.WriteWindowUpdate(s.id, uint32(inc)) })
		}
	}
	return nil
}

// write runs one of the Framer's writes and flushes.
func (c *xcConn) write(f func() error) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := f(); err != nil {
		return err
	}
	return c.bw.Flush()
}

// open sends an extended CONNECT on a new stream and wants 200.
func (c *xcConn) open() (*xcStream, error) {
	c.mu.Lock()
	s := &xcStream{c: c, id: c.next, sendWin: c.initWin, recvWin: xcStreamWindow}
	s.ws.r = s
	c.next += 2
	c.streams[s.id] = s
	c.wmu.Lock()
	err := c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: s.id, BlockFragment: c.d.block, EndHeaders: true})
	if err == nil {
		err = c.bw.Flush()
	}
	c.wmu.Unlock()
	if err == nil {
		err = c.wait(s, waitHead)
	}
	if err == nil && s.reset != nil {
		err = s.reset
	}
	if err == nil && s.status != "200" {
		err = fmt.Errorf("extended CONNECT answered %q, want 200", s.status)
	}
	if err != nil {
		delete(c.streams, s.id)
		c.mu.Unlock()
		return nil, err
	}
	c.mu.Unlock()
	return s, nil
}

// Read reads the stream's DATA; io.EOF after END_STREAM.
func (s *xcStream) Read(p []byte) (int, error) {
	c := s.c
	c.mu.Lock()
	defer c.mu.Unlock()
	err := c.wait(s, waitData)
	if s.r < len(s.buf) {
		n := copy(p, s.buf[s.r:])
		if s.r += n; s.r == len(s.buf) {
			s.buf, s.r = s.buf[:0], 0
		}
		return n, nil
	}
	switch {
	case err != nil:
		return 0, err
	case s.reset != nil:
		return 0, s.reset
	}
	return 0, io.EOF
}

// Write sends p in DATA frames as the windows allow, and flushes.
func (s *xcStream) Write(p []byte) (int, error) {
	if err := s.send(p, false); err != nil {
		return 0, err
	}
	return len(p), nil
}

// send sends p in DATA frames, the last with END_STREAM if end, and
// flushes; it waits for window when it must, flushing first.
func (s *xcStream) send(p []byte, end bool) error {
	c := s.c
	for {
		c.mu.Lock()
		if !c.ready(s, waitWindow) && len(p) > 0 {
			if err := c.write(func() error { return nil }); err != nil {
				c.mu.Unlock()
				return err
			}
		}
		var err error
		if len(p) > 0 {
			err = c.wait(s, waitWindow)
		}
		if err == nil && s.reset != nil {
			err = s.reset
		}
		n := min(int64(len(p)), xcMaxFrame, s.sendWin, c.sendWin)
		s.sendWin -= n
		c.sendWin -= n
		c.mu.Unlock()
		if err != nil {
			return err
		}
		last := n == int64(len(p))
		c.wmu.Lock()
		err = c.fr.WriteData(s.id, last && end, p[:n])
		if err == nil && last {
			err = c.bw.Flush()
		}
		c.wmu.Unlock()
		if err != nil || last {
			return err
		}
		p = p[n:]
	}
}

// echo sends m and reads it back; the connection's deadline moves every
// 1024 messages.
func (s *xcStream) echo(m wsMessage) error {
	if s.c.ops.Add(1)%1024 == 0 {
		_ = s.c.nc.SetDeadline(time.Now().Add(ioTimeout))
	}
	return s.ws.echo(s, m)
}

// close ends the WebSocket cleanly: the client's close frame and
// END_STREAM (the client's half-close), the server's close frame, then
// the server's END_STREAM (a RST_STREAM is an error: the stream did not
// end cleanly).
func (s *xcStream) close() error {
	defer s.forget()
	return s.ws.closeHandshake(func(f []byte) error { return s.send(f, true) }, "END_STREAM")
}

// forget drops the stream from the connection.
func (s *xcStream) forget() {
	s.c.mu.Lock()
	delete(s.c.streams, s.id)
	s.c.mu.Unlock()
}

// close sends GOAWAY and closes the connection.
func (c *xcConn) close() {
	_ = c.write(func() error { return c.fr.WriteGoAway(0, http2.ErrCodeNo, nil) })
	_ = c.nc.Close()
}

// abort closes the connection at once (RST).
func (c *xcConn) abort() {
	_ = c.tc.SetLinger(0)
	c.tc.Close()
}
