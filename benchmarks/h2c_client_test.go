package benchmarks

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/http/httptest"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// The h2c benchmarks have one client, below, for every server: a minimal
// HTTP/2 client on x/net's Framer and HPACK that issues one GET at a time
// and reads its response whole. It upgrades with the bytes curl --http2
// sends, or opens with the preface (prior knowledge); after that the frames
// on the wire and the client's code are the same for every server, so its
// share of the time and of the allocations (counted by -benchmem together
// with the server's) is the same for all of them.

// h2cSettings are the client's settings, sent in HTTP2-Settings on an
// upgrade and in its first SETTINGS frame: curl's (no push, 100 streams,
// a 32 MiB stream window).
var h2cSettings = []http2.Setting{
	{ID: http2.SettingMaxConcurrentStreams, Val: 100},
	{ID: http2.SettingInitialWindowSize, Val: 32 << 20},
	{ID: http2.SettingEnablePush, Val: 0},
}

// h2cConnWindow is the connection window the client opens at the start,
// and h2cBody the handler's answer the client checks for.
const h2cConnWindow = 1 << 30

var h2cBody = []byte("hello from h2c\n")

// h2cClient dials h2c connections to one server, one at a time.
type h2cClient struct {
	addr    string
	upgrade []byte // the upgrade request, nil for prior knowledge
	block   []byte // the HPACK block of every GET
	br      *bufio.Reader
	bw      *bufio.Writer
}

func newH2CClient(srv *httptest.Server, upgrade bool) *h2cClient {
	c := &h2cClient{
		addr: srv.Listener.Addr().String(),
		br:   bufio.NewReaderSize(nil, 16<<10),
		bw:   bufio.NewWriterSize(nil, 4<<10),
	}
	// Every field is a static-table entry or a literal, so the same block
	// is valid on every stream and every connection.
	var buf bytes.Buffer
	enc := hpack.NewEncoder(&buf)
	for _, f := range []hpack.HeaderField{
		{Name: ":method", Value: "GET"}, {Name: ":scheme", Value: "http"},
		{Name: ":path", Value: "/"}, {Name: ":authority", Value: c.addr},
	} {
		_ = enc.WriteField(f)
	}
	c.block = buf.Bytes()
	if upgrade {
		var s []byte
		for _, st := range h2cSettings {
			s = binary.BigEndian.AppendUint16(s, uint16(st.ID))
			s = binary.BigEndian.AppendUint32(s, st.Val)
		}
		c.upgrade = []byte("GET / HTTP/1.1\r\n" +
			"Host: " + c.addr + "\r\n" +
			"User-Agent: switchyard-bench\r\n" +
			"Accept: */*\r\n" +
			"Connection: Upgrade, HTTP2-Settings\r\n" +
			"Upgrade: h2c\r\n" +
			"HTTP2-Settings: " + base64.RawURLEncoding.EncodeToString(s) + "\r\n" +
			"\r\n")
	}
	return c
}

// h2cConn is one HTTP/2 connection of the client.
type h2cConn struct {
	c      *h2cClient
	tc     *net.TCPConn
	fr     *http2.Framer
	dec    *hpack.Decoder
	next   uint32 // the next stream to open
	window uint32 // connection window left
	status string
	body   int
}

// dial opens a connection and gets stream 1's response: by upgrade (the
// GET / upgrade request is stream 1) or with prior knowledge (a GET / on
// stream 1). Every read and write has a deadline of now+ioTimeout.
func (c *h2cClient) dial() (*h2cConn, error) {
	tc, _, err := dialTimed(c.addr, nil)
	if err != nil {
		return nil, err
	}
	c.br.Reset(tc)
	c.bw.Reset(tc)
	hc := &h2cConn{c: c, tc: tc, fr: http2.NewFramer(c.bw, c.br), next: 1, window: 65535}
	hc.dec = hpack.NewDecoder(4096, hc.field)
	if err := hc.open(); err != nil {
		abort(tc)
		return nil, err
	}
	return hc, nil
}

func (hc *h2cConn) open() error {
	c := hc.c
	if c.upgrade != nil {
		if _, err := c.bw.Write(c.upgrade); err != nil {
			return err
		}
		if err := c.bw.Flush(); err != nil {
			return err
		}
		if err := read101(c.br, upgradedH2C, "Upgrade: h2c"); err != nil {
			return err
		}
	}
	if _, err := c.bw.WriteString(http2.ClientPreface); err != nil {
		return err
	}
	if err := hc.fr.WriteSettings(h2cSettings...); err != nil {
		return err
	}
	if err := hc.fr.WriteWindowUpdate(0, h2cConnWindow-65535); err != nil {
		return err
	}
	hc.window = h2cConnWindow
	if c.upgrade == nil {
		return hc.get() // stream 1
	}
	hc.next = 3
	if err := c.bw.Flush(); err != nil {
		return err
	}
	return hc.response(1)
}

// get sends GET / on the next stream and reads the response whole.
func (hc *h2cConn) get() error {
	id := hc.next
	hc.next += 2
	if err := hc.fr.WriteHeaders(http2.HeadersFrameParam{
		StreamID: id, BlockFragment: hc.c.block, EndStream: true, EndHeaders: true,
	}); err != nil {
		return err
	}
	if err := hc.c.bw.Flush(); err != nil {
		return err
	}
	return hc.response(id)
}

// response reads frames until stream id ends, answering SETTINGS and PING
// and reopening the connection window when half of it is used, and wants
// status 200 and h2cBody.
func (hc *h2cConn) response(id uint32) error {
	hc.status, hc.body = "", 0
	for {
		f, err := hc.fr.ReadFrame()
		if err != nil {
			return err
		}
		ended := false
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				if err := hc.flushAfter(hc.fr.WriteSettingsAck()); err != nil {
					return err
				}
			}
		case *http2.PingFrame:
			if !f.IsAck() {
				if err := hc.flushAfter(hc.fr.WritePing(true, f.Data)); err != nil {
					return err
				}
			}
		case *http2.GoAwayFrame:
			return fmt.Errorf("GOAWAY %v", f.ErrCode)
		case *http2.RSTStreamFrame:
			if f.StreamID == id {
				return fmt.Errorf("stream %d reset: %v", id, f.ErrCode)
			}
		case *http2.HeadersFrame:
			if !f.HeadersEnded() {
				return errors.New("CONTINUATION not supported by the bench client")
			}
			if _, err := hc.dec.Write(f.HeaderBlockFragment()); err != nil {
				return err
			}
			if err := hc.dec.Close(); err != nil {
				return err
			}
			ended = f.StreamID == id && f.StreamEnded()
		case *http2.DataFrame:
			n := uint32(f.Length)
			if f.StreamID == id {
				hc.body += len(f.Data())
				ended = f.StreamEnded()
			}
			hc.window -= n
			if hc.window < h2cConnWindow/2 {
				if err := hc.flushAfter(hc.fr.WriteWindowUpdate(0, h2cConnWindow-hc.window)); err != nil {
					return err
				}
				hc.window = h2cConnWindow
			}
		}
		if ended {
			if hc.status != "200" || hc.body != len(h2cBody) {
				return fmt.Errorf("stream %d: status %q, %d body bytes; want 200, %d", id, hc.status, hc.body, len(h2cBody))
			}
			return nil
		}
	}
}

func (hc *h2cConn) flushAfter(err error) error {
	if err != nil {
		return err
	}
	return hc.c.bw.Flush()
}

// field is the HPACK decoder's callback: it keeps the status.
func (hc *h2cConn) field(f hpack.HeaderField) {
	if f.Name == ":status" {
		hc.status = f.Value
	}
}

// close resets the connection (no TIME_WAIT left behind).
func (hc *h2cConn) close() { abort(hc.tc) }

// upgradedH2C tells whether a header line is Upgrade: h2c.
func upgradedH2C(line []byte) bool {
	return bytes.EqualFold(bytes.TrimSpace(line), []byte("upgrade: h2c"))
}
