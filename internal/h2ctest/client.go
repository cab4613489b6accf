// Package h2ctest is a small HTTP/2 client for tests that upgrade with
// "Upgrade: h2c" (RFC 7540 §3.2), which Go's http2.Transport cannot do: it
// sends the upgrade request, reads the 101 and stream 1's response, and then
// sends further requests, one at a time, on the same connection.
package h2ctest

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// Response is one HTTP/2 response.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Client is an upgraded h2c connection.
type Client struct {
	Conn    net.Conn
	br      *bufio.Reader
	fr      *http2.Framer
	hbuf    bytes.Buffer
	enc     *hpack.Encoder
	next    uint32
	GoAway  *http2.GoAwayFrame // the GOAWAY received, if any
	Upgrade *http.Response     // the 101, or the HTTP/1.1 answer if the server did not switch
	// ExtendedConnect reports that the server's SETTINGS enabled extended
	// CONNECT (RFC 8441 §3).
	ExtendedConnect bool
}

// Settings is an HTTP2-Settings value with no settings, valid for any server.
var Settings = base64.RawURLEncoding.EncodeToString(nil)

// RequestHead returns an h2c upgrade request head for method and path with
// the given extra lines, without the blank line that ends it.
func RequestHead(method, path, host string, extra ...string) string {
	s := method + " " + path + " HTTP/1.1\r\nHost: " + host +
		"\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: " + Settings + "\r\n"
	for _, e := range extra {
		s += e + "\r\n"
	}
	return s
}

// Upgrade writes head (a whole request head, see [RequestHead]) and body on
// conn and reads the answer. If the server switched, it returns the client
// and stream 1's response; otherwise Upgrade is the HTTP/1.1 response (body
// unread) and the stream 1 response is nil.
func Upgrade(conn net.Conn, head string, body []byte) (*Client, *Response, error) {
	c := &Client{Conn: conn, br: bufio.NewReader(conn), next: 3}
	if _, err := io.WriteString(conn, head+"\r\n"); err != nil {
		return nil, nil, err
	}
	if _, err := conn.Write(body); err != nil {
		return nil, nil, err
	}
	for {
		resp, err := http.ReadResponse(c.br, nil)
		if err != nil {
			return nil, nil, err
		}
		c.Upgrade = resp
		if resp.StatusCode == http.StatusContinue {
			continue
		}
		if resp.StatusCode != http.StatusSwitchingProtocols {
			return c, nil, nil
		}
		break
	}
	if !strings.EqualFold(c.Upgrade.Header.Get("Upgrade"), "h2c") {
		return nil, nil, fmt.Errorf("101 with Upgrade %q", c.Upgrade.Header.Get("Upgrade"))
	}
	if _, err := io.WriteString(conn, http2.ClientPreface); err != nil {
		return nil, nil, err
	}
	c.fr = http2.NewFramer(conn, c.br)
	c.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	c.enc = hpack.NewEncoder(&c.hbuf)
	if err := c.fr.WriteSettings(); err != nil {
		return nil, nil, err
	}
	resp, err := c.read(1)
	return c, resp, err
}

// Get sends a GET for path on a new stream and reads the response.
func (c *Client) Get(path string) (*Response, error) {
	return c.Do("GET", path, nil)
}

// Do sends a request on a new stream and reads its response.
func (c *Client) Do(method, path string, body []byte) (*Response, error) {
	id := c.next
	c.next += 2
	c.hbuf.Reset()
	for _, f := range []hpack.HeaderField{
		{Name: ":method", Value: method}, {Name: ":scheme", Value: "http"},
		{Name: ":path", Value: path}, {Name: ":authority", Value: "h2c.test"},
	} {
		_ = c.enc.WriteField(f)
	}
	if body != nil {
		_ = c.enc.WriteField(hpack.HeaderField{Name: "content-length", Value: strconv.Itoa(len(body))})
	}
	if err := c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: c.hbuf.Bytes(), EndHeaders: true, EndStream: body == nil}); err != nil {
		return nil, err
	}
	if body != nil {
		if err := c.fr.WriteData(id, true, body); err != nil {
			return nil, err
		}
	}
	return c.read(id)
}

// Connect opens a stream by extended CONNECT (RFC 8441) for protocol at
// path, sends body and the end of the stream, and reads the response: its
// status, and the data the server sent until it ended the stream.
func (c *Client) Connect(path, protocol string, body []byte) (*Response, error) {
	id := c.next
	c.next += 2
	c.hbuf.Reset()
	for _, f := range []hpack.HeaderField{
		{Name: ":method", Value: "CONNECT"}, {Name: ":protocol", Value: protocol}, {Name: ":scheme", Value: "http"},
		{Name: ":path", Value: path}, {Name: ":authority", Value: "h2c.test"},
	} {
		_ = c.enc.WriteField(f)
	}
	if err := c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: c.hbuf.Bytes(), EndHeaders: true}); err != nil {
		return nil, err
	}
	if err := c.fr.WriteData(id, true, body); err != nil {
		return nil, err
	}
	return c.read(id)
}

// ErrGoAway is returned when the server sends GOAWAY while a response is
// awaited and the stream was not processed.
var ErrGoAway = errors.New("h2ctest: GOAWAY")

// read collects the response on stream id, answering SETTINGS and PING and
// returning window as data arrives.
func (c *Client) read(id uint32) (*Response, error) {
	resp := &Response{Header: http.Header{}}
	for {
		f, err := c.readFrame()
		if err != nil {
			return nil, err
		}
		switch f := f.(type) {
		case *http2.GoAwayFrame:
			c.GoAway = f
			if f.LastStreamID < id {
				return nil, ErrGoAway
			}
		case *http2.MetaHeadersFrame:
			if f.StreamID != id {
				continue
			}
			for _, hf := range f.Fields {
				if hf.Name == ":status" {
					resp.Status, _ = strconv.Atoi(hf.Value)
				} else if !strings.HasPrefix(hf.Name, ":") {
					resp.Header.Add(hf.Name, hf.Value)
				}
			}
			if f.StreamEnded() {
				return resp, nil
			}
		case *http2.DataFrame:
			if f.StreamID != id {
				continue
			}
			resp.Body = append(resp.Body, f.Data()...)
			if n := uint32(len(f.Data())); n > 0 {
				_ = c.fr.WriteWindowUpdate(0, n)
				_ = c.fr.WriteWindowUpdate(id, n)
			}
			if f.StreamEnded() {
				return resp, nil
			}
		case *http2.RSTStreamFrame:
			if f.StreamID == id {
				return nil, fmt.Errorf("stream %d reset: %v", id, f.ErrCode)
			}
		}
	}
}

// WaitGoAway reads frames until the server sends GOAWAY or closes.
func (c *Client) WaitGoAway() (*http2.GoAwayFrame, error) {
	for {
		f, err := c.readFrame()
		if err != nil {
			return nil, err
		}
		if ga, ok := f.(*http2.GoAwayFrame); ok {
			c.GoAway = ga
			return ga, nil
		}
	}
}

// readFrame reads the next frame, acknowledging SETTINGS and answering PING
// as a client must while it waits. A failed acknowledgement is not an
// error: what the server sent before it is still read.
func (c *Client) readFrame() (http2.Frame, error) {
	f, err := c.fr.ReadFrame()
	if err != nil {
		return nil, err
	}
	switch f := f.(type) {
	case *http2.SettingsFrame:
		if !f.IsAck() {
			if v, ok := f.Value(http2.SettingEnableConnectProtocol); ok {
				c.ExtendedConnect = v == 1
			}
			_ = c.fr.WriteSettingsAck()
		}
	case *http2.PingFrame:
		if !f.IsAck() {
			_ = c.fr.WritePing(true, f.Data)
		}
	}
	return f, nil
}
