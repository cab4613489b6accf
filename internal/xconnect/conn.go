package xconnect

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/switchyard-http/switchyard/internal/upgrade"
)

// The client's receive windows: what a stream may send before the
// application reads, and the connection's in all.
const (
	streamWindow = 4 << 20
	connWindow   = 1 << 30
)

// maxHeaderList bounds a stream's response heads, interim ones included,
// by SETTINGS_MAX_HEADER_LIST_SIZE's measure (RFC 9113 §6.5.2): the bound
// the HTTP/1.1 client of the module reads heads under.
const maxHeaderList = upgrade.DefaultMaxResponseHeaderBytes

// maxWindow is the largest flow-control window (RFC 9113 §6.9.1).
const maxWindow = 1<<31 - 1

// clientConn is one HTTP/2 connection of a Client: a reading goroutine
// hands each stream its frames; writes of frames are serialized by wmu.
type clientConn struct {
	c   *Client
	key string
	nc  net.Conn

	wmu    sync.Mutex // the framer's writes, the encoder, stream IDs
	fr     *http2.Framer
	enc    *hpack.Encoder
	hbuf   bytes.Buffer
	nextID uint32

	mu        sync.Mutex // everything below, and every stream's state
	cond      *sync.Cond // a window, a stream or the connection changed
	streams   map[uint32]*Stream
	settings  chan struct{} // closed at the server's first SETTINGS
	dead      chan struct{} // closed when the connection has failed
	gotSet    bool
	xconnect  bool
	maxFrame  uint32
	initSend  int32 // the server's SETTINGS_INITIAL_WINDOW_SIZE
	connSend  int32 // what the connection may still send
	connRecv  int   // what the server may still send on the connection
	unackConn int   // bytes read by the application, not yet returned
	goaway    bool
	err       error // the reading goroutine has ended
}

// conn returns a connection to the scheme's host, new or shared.
func (c *Client) conn(ctx context.Context, scheme, host string) (*clientConn, error) {
	key := scheme + "://" + host
	c.mu.Lock()
	if cc := c.conns[key]; cc != nil {
		cc.mu.Lock()
		usable := cc.err == nil && !cc.goaway
		cc.mu.Unlock()
		if usable {
			c.mu.Unlock()
			return cc, nil
		}
		delete(c.conns, key)
	}
	c.mu.Unlock()
	nc, err := c.dial(ctx, scheme, host)
	if err != nil {
		return nil, err
	}
	cc := &clientConn{c: c, key: key, nc: c.wrap(nc), nextID: 1, streams: map[uint32]*Stream{},
		settings: make(chan struct{}), dead: make(chan struct{}), maxFrame: 16 << 10, initSend: 65535, connSend: 65535, connRecv: connWindow}
	cc.cond = sync.NewCond(&cc.mu)
	cc.fr = http2.NewFramer(cc.nc, cc.nc)
	cc.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	cc.fr.MaxHeaderListSize = maxHeaderList // x/net's default is 16 MiB
	cc.enc = hpack.NewEncoder(&cc.hbuf)
	if _, err := io.WriteString(cc.nc, http2.ClientPreface); err != nil {
		nc.Close()
		return nil, err
	}
	if err := cc.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: streamWindow},
		http2.Setting{ID: http2.SettingEnablePush, Val: 0},
		http2.Setting{ID: http2.SettingMaxHeaderListSize, Val: maxHeaderList}); err != nil {
		nc.Close()
		return nil, err
	}
	if err := cc.fr.WriteWindowUpdate(0, connWindow-65535); err != nil {
		nc.Close()
		return nil, err
	}
	go cc.readLoop()
	c.mu.Lock()
	if c.conns == nil {
		c.conns = map[string]*clientConn{}
	}
	c.conns[key] = cc
	c.mu.Unlock()
	return cc, nil
}

// dial opens the TCP connection (h2c) or the TLS one, which must choose h2
// by ALPN.
func (c *Client) dial(ctx context.Context, scheme, host string) (net.Conn, error) {
	if scheme == "http" {
		return (&net.Dialer{}).DialContext(ctx, "tcp", host)
	}
	cfg := c.tlsConfig.Clone()
	cfg.NextProtos = []string{http2.NextProtoTLS}
	if cfg.ServerName == "" {
		cfg.ServerName, _, _ = net.SplitHostPort(host)
	}
	nc, err := (&tls.Dialer{Config: cfg}).DialContext(ctx, "tcp", host)
	if err != nil {
		return nil, err
	}
	if p := nc.(*tls.Conn).ConnectionState().NegotiatedProtocol; p != http2.NextProtoTLS {
		nc.Close()
		return nil, fmt.Errorf("xconnect: the server chose %q by ALPN, not h2: no HTTP/2 over TLS", p)
	}
	return nc, nil
}

// waitSettings waits for the server's first SETTINGS.
func (cc *clientConn) waitSettings(ctx context.Context) error {
	select {
	case <-cc.settings:
		return nil
	case <-cc.dead:
		cc.mu.Lock()
		defer cc.mu.Unlock()
		return fmt.Errorf("xconnect: the connection ended before the server's SETTINGS: %w", cc.err)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// request is what a stream is opened with.
type request struct {
	method, scheme, authority, path, protocol string
	header                                    http.Header
	endStream                                 bool
	trace                                     *httptrace.ClientTrace
}

// open writes a request's HEADERS on a new stream.
func (cc *clientConn) open(r request) (*Stream, error) {
	s := &Stream{cc: cc, head: make(chan struct{}), local: cc.nc.LocalAddr(), remote: cc.nc.RemoteAddr()}
	cc.wmu.Lock()
	defer cc.wmu.Unlock()
	cc.mu.Lock()
	if cc.err != nil || cc.goaway {
		err := cc.err
		cc.mu.Unlock()
		if err == nil {
			err = errors.New("xconnect: the server sent GOAWAY")
		}
		return nil, err
	}
	s.id = cc.nextID
	cc.nextID += 2
	s.send = cc.initSend
	s.recv = streamWindow
	s.ended = r.endStream
	cc.streams[s.id] = s
	cc.mu.Unlock()
	cc.hbuf.Reset()
	field := func(k, v string) {
		_ = cc.enc.WriteField(hpack.HeaderField{Name: k, Value: v})
		if r.trace != nil && r.trace.WroteHeaderField != nil {
			r.trace.WroteHeaderField(k, []string{v})
		}
	}
	field(":authority", r.authority)
	field(":method", r.method)
	field(":path", r.path)
	field(":scheme", r.scheme)
	if r.protocol != "" {
		field(":protocol", r.protocol)
	}
	for k, vs := range r.header {
		for _, v := range vs {
			field(strings.ToLower(k), v)
		}
	}
	if err := cc.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: s.id, BlockFragment: cc.hbuf.Bytes(),
		EndHeaders: true, EndStream: r.endStream}); err != nil {
		cc.fail(err)
		return nil, err
	}
	return s, nil
}

// readLoop reads the server's frames until the connection ends.
func (cc *clientConn) readLoop() {
	var err error
	for err == nil {
		var f http2.Frame
		if f, err = cc.fr.ReadFrame(); err == nil {
			err = cc.handle(f)
		} else if mh, ok := f.(*http2.MetaHeadersFrame); ok && mh.Truncated {
			// x/net's framer ends the connection when a header block goes
			// on past MaxHeaderListSize: the stream says why.
			cc.mu.Lock()
			if s := cc.streams[mh.StreamID]; s != nil && s.resp == nil {
				s.fail(upgrade.HeadTooLarge(maxHeaderList))
			}
			cc.mu.Unlock()
		}
	}
	cc.fail(err)
}

// fail ends the connection and every stream on it with err.
func (cc *clientConn) fail(err error) {
	if err == nil {
		err = net.ErrClosed
	}
	cc.mu.Lock()
	if cc.err == nil {
		cc.err = err
		close(cc.dead)
	}
	for _, s := range cc.streams {
		s.fail(err)
	}
	cc.streams = map[uint32]*Stream{}
	cc.cond.Broadcast()
	cc.mu.Unlock()
	cc.nc.Close()
	cc.c.mu.Lock()
	if cc.c.conns[cc.key] == cc {
		delete(cc.c.conns, cc.key)
	}
	cc.c.mu.Unlock()
}

func (cc *clientConn) handle(f http2.Frame) error {
	switch f := f.(type) {
	case *http2.SettingsFrame:
		if f.IsAck() {
			return nil
		}
		cc.mu.Lock()
		err := f.ForeachSetting(func(s http2.Setting) error {
			// A value out of its range (RFC 9113 §6.5.2) is a connection
			// error: a SETTINGS_MAX_FRAME_SIZE of 0 had Write send empty
			// DATA frames without end.
			if err := s.Valid(); err != nil {
				return err
			}
			switch s.ID {
			case http2.SettingEnableConnectProtocol:
				cc.xconnect = s.Val == 1
			case http2.SettingMaxFrameSize:
				cc.maxFrame = s.Val
			case http2.SettingInitialWindowSize:
				delta := int64(s.Val) - int64(cc.initSend)
				for _, st := range cc.streams {
					if int64(st.send)+delta > maxWindow {
						// RFC 9113 §6.9.2.
						return http2.ConnectionError(http2.ErrCodeFlowControl)
					}
				}
				cc.initSend = int32(s.Val)
				for _, st := range cc.streams {
					st.send += int32(delta)
				}
			}
			return nil
		})
		cc.cond.Broadcast()
		first := !cc.gotSet
		cc.gotSet = true
		cc.mu.Unlock()
		if err != nil {
			cc.goAway(err)
			return err
		}
		cc.write(func() error { return cc.fr.WriteSettingsAck() })
		if first {
			close(cc.settings)
		}
	case *http2.PingFrame:
		if !f.IsAck() {
			cc.write(func() error { return cc.fr.WritePing(true, f.Data) })
		}
	case *http2.WindowUpdateFrame:
		// A window past 2^31-1 ends the stream or the connection (RFC 9113
		// §6.9.1): it had wrapped round to a negative one, on which Write
		// waited for ever.
		inc := int64(f.Increment)
		cc.mu.Lock()
		reset := false
		if f.StreamID == 0 {
			if int64(cc.connSend)+inc > maxWindow {
				cc.mu.Unlock()
				err := http2.ConnectionError(http2.ErrCodeFlowControl)
				cc.goAway(err)
				return err
			}
			cc.connSend += int32(inc)
		} else if s := cc.streams[f.StreamID]; s != nil {
			if int64(s.send)+inc > maxWindow {
				cc.abortLocked(s, http2.StreamError{StreamID: s.id, Code: http2.ErrCodeFlowControl})
				reset = true
			} else {
				s.send += int32(inc)
			}
		}
		cc.cond.Broadcast()
		cc.mu.Unlock()
		if reset {
			cc.write(func() error { return cc.fr.WriteRSTStream(f.StreamID, http2.ErrCodeFlowControl) })
		}
	case *http2.MetaHeadersFrame:
		cc.mu.Lock()
		reset := false
		if s := cc.streams[f.StreamID]; s != nil {
			if err := s.gotHeaders(f); err != nil {
				// Past a bound, or a head without a status: the stream
				// fails, and is reset, as x/net's client does
				// (PROTOCOL_ERROR).
				cc.abortLocked(s, err)
				reset = true
			}
		}
		cc.cond.Broadcast()
		cc.mu.Unlock()
		if reset {
			cc.write(func() error { return cc.fr.WriteRSTStream(f.StreamID, http2.ErrCodeProtocol) })
		}
	case *http2.DataFrame:
		// Flow control counts the whole payload, padding included
		// (RFC 9113 §6.9.1). A server past a window the client advertised
		// breaks it: FLOW_CONTROL_ERROR, and nothing is kept beyond it.
		size := int(f.Header().Length)
		padding := size - len(f.Data())
		cc.mu.Lock()
		if size > cc.connRecv {
			cc.mu.Unlock()
			err := http2.ConnectionError(http2.ErrCodeFlowControl)
			cc.goAway(err)
			return err
		}
		cc.connRecv -= size
		s := cc.streams[f.StreamID]
		giveConn, giveStream, reset, resetCode := 0, 0, false, http2.ErrCodeFlowControl
		switch {
		case s == nil:
			// A stream already closed: its data still counts against the
			// connection's window.
			giveConn = size
		case s.eof:
			// DATA after the end of the stream (RFC 9113 §5.1): not the
			// stream's, which is reset; the reader still gets what came
			// before the end, then io.EOF.
			giveConn = size
			cc.abortLocked(s, http2.StreamError{StreamID: s.id, Code: http2.ErrCodeStreamClosed})
			resetCode, reset = http2.ErrCodeStreamClosed, true
		case size > s.recv:
			// What was kept is dropped, and given back to the connection.
			giveConn = size + len(s.in)
			s.in = nil
			cc.abortLocked(s, http2.StreamError{StreamID: s.id, Code: http2.ErrCodeFlowControl})
			reset = true
		default:
			s.recv -= size
			s.in = append(s.in, f.Data()...)
			if padding > 0 && !f.StreamEnded() {
				// Padding is never read: it goes back at once.
				giveConn, giveStream = padding, padding
				s.recv += padding
			} else if padding > 0 {
				giveConn = padding
			}
			if f.StreamEnded() {
				s.eof = true
				s.maybeForget()
			}
		}
		cc.connRecv += giveConn
		cc.cond.Broadcast()
		cc.mu.Unlock()
		if reset {
			cc.write(func() error { return cc.fr.WriteRSTStream(f.StreamID, resetCode) })
		}
		if giveConn > 0 {
			cc.write(func() error { return cc.fr.WriteWindowUpdate(0, uint32(giveConn)) })
		}
		if giveStream > 0 {
			cc.write(func() error { return cc.fr.WriteWindowUpdate(f.StreamID, uint32(giveStream)) })
		}
	case *http2.RSTStreamFrame:
		cc.mu.Lock()
		if s := cc.streams[f.StreamID]; s != nil {
			if !(s.eof && f.ErrCode == http2.ErrCodeNo) {
				// NO_ERROR after the end of the response only asks the
				// client to stop sending (RFC 9113 §8.1).
				s.fail(http2.StreamError{StreamID: f.StreamID, Code: f.ErrCode})
			}
			s.ended = true
			delete(cc.streams, f.StreamID)
		}
		cc.cond.Broadcast()
		cc.mu.Unlock()
	case *http2.GoAwayFrame:
		cc.mu.Lock()
		cc.goaway = true
		for id, s := range cc.streams {
			if id > f.LastStreamID {
				s.fail(fmt.Errorf("xconnect: GOAWAY (%v) before stream %d was processed", f.ErrCode, id))
				delete(cc.streams, id)
			}
		}
		cc.cond.Broadcast()
		cc.mu.Unlock()
	}
	return nil
}

// goAway tells the server why the client ends the connection: GOAWAY
// with err's code.
func (cc *clientConn) goAway(err error) {
	code := http2.ErrCodeProtocol
	var ce http2.ConnectionError
	if errors.As(err, &ce) {
		code = http2.ErrCode(ce)
	}
	cc.write(func() error { return cc.fr.WriteGoAway(0, code, nil) })
}

// write writes a frame under the write lock; a failure ends the
// connection (the reading goroutine sees it).
func (cc *clientConn) write(f func() error) {
	cc.wmu.Lock()
	err := f()
	cc.wmu.Unlock()
	if err != nil {
		cc.nc.Close()
	}
}

// idle reports whether the connection carries no stream.
func (cc *clientConn) idle() bool {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return len(cc.streams) == 0
}

// Stream is an HTTP/2 stream as a net.Conn: reads return the response's
// data, writes send the request's. A read deadline ends the reads waiting
// when it passes, and later reads until it is moved; write deadlines are
// ignored (a write waits for the server's flow-control window).
type Stream struct {
	cc            *clientConn
	id            uint32
	local, remote net.Addr

	// Under cc.mu:
	head      chan struct{} // closed when the response head (or an error) came
	resp      *http.Response
	in        []byte // data received, not yet read
	eof       bool   // the server ended the stream
	err       error  // reset, or the connection failed
	send      int32  // what the stream may still send
	recv      int    // what the server may still send on the stream
	ended     bool   // the client ended (or reset) its side
	closed    bool   // Close was called
	deadline  time.Time
	timer     *time.Timer
	unackRead int
	interim   int // 1xx heads passed over
	headSize  int // the heads' size so far (RFC 9113 §6.5.2's measure)
}

// gotHeaders takes a response head (1xx heads are passed over) or
// trailers; cc.mu is held. Its error, for heads past a bound or a head
// without a valid :status, fails the stream.
func (s *Stream) gotHeaders(f *http2.MetaHeadersFrame) error {
	if s.resp == nil {
		for _, hf := range f.Fields {
			s.headSize += int(hf.Size())
		}
		if f.Truncated || s.headSize > maxHeaderList {
			return upgrade.HeadTooLarge(maxHeaderList)
		}
		code, err := strconv.Atoi(f.PseudoValue("status"))
		if err != nil {
			// The stream fails and is reset: a later head may not
			// answer it (its close of head panicked).
			return fmt.Errorf("xconnect: bad :status %q", f.PseudoValue("status"))
		}
		if code/100 == 1 && !f.StreamEnded() {
			if s.interim++; s.interim > upgrade.MaxInterim {
				return upgrade.TooManyInterim()
			}
			return nil
		}
		h := http.Header{}
		for _, hf := range f.RegularFields() {
			h.Add(hf.Name, hf.Value)
		}
		s.resp = &http.Response{Status: strconv.Itoa(code) + " " + http.StatusText(code), StatusCode: code,
			Proto: "HTTP/2.0", ProtoMajor: 2, Header: h, ContentLength: -1, Body: s}
		if cl := h.Get("Content-Length"); cl != "" {
			s.resp.ContentLength, _ = strconv.ParseInt(cl, 10, 64)
		}
		close(s.head)
	}
	if f.StreamEnded() {
		s.eof = true
		s.maybeForget()
	}
	return nil
}

// abortLocked fails s with err and forgets it, for the caller to reset
// it: the server broke a bound or a window; cc.mu is held.
func (cc *clientConn) abortLocked(s *Stream, err error) {
	s.fail(err)
	s.ended = true
	delete(cc.streams, s.id)
}

// fail ends the stream with err; cc.mu is held.
func (s *Stream) fail(err error) {
	if s.err == nil {
		s.err = err
	}
	if s.resp == nil {
		select {
		case <-s.head:
		default:
			close(s.head)
		}
	}
}

// maybeForget drops a stream both sides have ended; cc.mu is held.
func (s *Stream) maybeForget() {
	if s.eof && s.ended {
		delete(s.cc.streams, s.id)
	}
}

// response waits for the response head.
func (s *Stream) response(ctx context.Context) (*http.Response, error) {
	select {
	case <-s.head:
	case <-ctx.Done():
		s.Close()
		return nil, ctx.Err()
	}
	s.cc.mu.Lock()
	defer s.cc.mu.Unlock()
	if s.resp == nil {
		return nil, s.err
	}
	return s.resp, nil
}

func (s *Stream) Read(p []byte) (int, error) {
	cc := s.cc
	cc.mu.Lock()
	for len(s.in) == 0 && !s.eof && s.err == nil && !s.closed && !s.timedOut() {
		cc.cond.Wait()
	}
	switch {
	case len(s.in) > 0:
	case s.closed:
		cc.mu.Unlock()
		return 0, net.ErrClosed
	case s.eof:
		cc.mu.Unlock()
		return 0, io.EOF
	case s.err != nil:
		err := s.err
		cc.mu.Unlock()
		return 0, err
	default:
		cc.mu.Unlock()
		return 0, os.ErrDeadlineExceeded
	}
	n := copy(p, s.in)
	s.in = s.in[n:]
	if len(s.in) == 0 {
		s.in = nil
	}
	// Give the window back once a good part of it has been read.
	s.unackRead += n
	cc.unackConn += n
	streamAdd, connAdd := 0, 0
	if s.unackRead >= streamWindow/4 || s.eof {
		streamAdd, s.unackRead = s.unackRead, 0
	}
	if cc.unackConn >= streamWindow/4 {
		connAdd, cc.unackConn = cc.unackConn, 0
	}
	open := !s.eof && s.err == nil
	cc.connRecv += connAdd
	if open {
		s.recv += streamAdd
	}
	cc.mu.Unlock()
	if connAdd > 0 {
		cc.write(func() error { return cc.fr.WriteWindowUpdate(0, uint32(connAdd)) })
	}
	if streamAdd > 0 && open {
		cc.write(func() error { return cc.fr.WriteWindowUpdate(s.id, uint32(streamAdd)) })
	}
	return n, nil
}

// timedOut reports whether the read deadline has passed; cc.mu is held.
func (s *Stream) timedOut() bool {
	return !s.deadline.IsZero() && !time.Now().Before(s.deadline)
}

func (s *Stream) Write(p []byte) (int, error) {
	cc := s.cc
	written := 0
	for len(p) > 0 {
		cc.mu.Lock()
		for (s.send <= 0 || cc.connSend <= 0) && s.err == nil && !s.ended && !s.closed && cc.err == nil {
			cc.cond.Wait()
		}
		switch {
		case s.closed:
			cc.mu.Unlock()
			return written, net.ErrClosed
		case s.err != nil:
			err := s.err
			cc.mu.Unlock()
			return written, err
		case s.ended:
			cc.mu.Unlock()
			return written, errors.New("xconnect: write after the end of the stream")
		case cc.err != nil:
			err := cc.err
			cc.mu.Unlock()
			return written, err
		}
		n := min(len(p), int(s.send), int(cc.connSend), int(cc.maxFrame))
		s.send -= int32(n)
		cc.connSend -= int32(n)
		cc.mu.Unlock()
		cc.wmu.Lock()
		err := cc.fr.WriteData(s.id, false, p[:n])
		cc.wmu.Unlock()
		if err != nil {
			cc.nc.Close()
			return written, err
		}
		written += n
		p = p[n:]
	}
	return written, nil
}

// CloseWrite ends the client's side of the stream (END_STREAM): the
// server reads the end of the request.
func (s *Stream) CloseWrite() error {
	cc := s.cc
	cc.mu.Lock()
	if s.ended || s.err != nil || s.closed {
		cc.mu.Unlock()
		return nil
	}
	s.ended = true
	s.maybeForget()
	cc.cond.Broadcast()
	cc.mu.Unlock()
	cc.wmu.Lock()
	err := cc.fr.WriteData(s.id, true, nil)
	cc.wmu.Unlock()
	return err
}

// Close closes the stream: unless both sides have ended, it is reset
// (RST_STREAM CANCEL).
func (s *Stream) Close() error {
	cc := s.cc
	cc.mu.Lock()
	if s.closed {
		cc.mu.Unlock()
		return nil
	}
	s.closed = true
	if s.timer != nil {
		s.timer.Stop()
	}
	_, live := cc.streams[s.id]
	delete(cc.streams, s.id)
	rst := live && cc.err == nil
	// What was received and will not be read goes back to the connection.
	unread := len(s.in)
	s.in = nil
	give := unread > 0 && cc.err == nil
	if give {
		cc.connRecv += unread
	}
	cc.cond.Broadcast()
	cc.mu.Unlock()
	if rst {
		cc.write(func() error { return cc.fr.WriteRSTStream(s.id, http2.ErrCodeCancel) })
	}
	if give {
		cc.write(func() error { return cc.fr.WriteWindowUpdate(0, uint32(unread)) })
	}
	return nil
}

func (s *Stream) LocalAddr() net.Addr  { return s.local }
func (s *Stream) RemoteAddr() net.Addr { return s.remote }

func (s *Stream) SetDeadline(t time.Time) error { return s.SetReadDeadline(t) }

func (s *Stream) SetReadDeadline(t time.Time) error {
	cc := s.cc
	cc.mu.Lock()
	defer cc.mu.Unlock()
	s.deadline = t
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
	if !t.IsZero() {
		s.timer = time.AfterFunc(time.Until(t), func() {
			cc.mu.Lock()
			cc.cond.Broadcast()
			cc.mu.Unlock()
		})
	}
	cc.cond.Broadcast()
	return nil
}

func (s *Stream) SetWriteDeadline(time.Time) error { return nil }
