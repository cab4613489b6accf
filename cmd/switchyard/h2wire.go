package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/switchyard-http/switchyard/internal/upgrade"
)

// wireTap reads the server's HTTP/2 frames as the client reads them: its
// SETTINGS, the header blocks (decoded with a table of their own, so the
// fields are seen as they arrived, connection-specific ones included,
// which x/net's client drops), RST_STREAM and GOAWAY. It keeps only those,
// each under a bound (see maxHeads), whatever the server sends; DATA is
// counted past.
type wireTap struct {
	net.Conn

	mu       sync.Mutex
	hdr      [9]byte
	nhdr     int
	left     int    // payload bytes of the current frame still to come
	payload  []byte // the current frame's payload, if it is one kept
	keep     bool
	block    []byte // a header block being assembled
	open     bool   // block has no END_HEADERS yet
	dec      *hpack.Decoder
	decErr   error
	settings []http2.Setting
	gotSet   time.Time // when the first SETTINGS arrived
	heads    [][]hpack.HeaderField
	cut      bool // a head was cut at its bound
	endHead  bool // the last head came with END_STREAM
	resets   []http2.ErrCode
	goaway   string
	stalled  error // a write that timed out
}

func newWireTap(nc net.Conn) *wireTap {
	return &wireTap{Conn: nc, dec: hpack.NewDecoder(4096, nil)}
}

// maxKept bounds a frame payload the tap keeps: beyond it (over the 16 KiB
// frames x/net's client allows) the frame is passed over.
const maxKept = 1 << 20

// What the tap keeps, whatever the server sends: the heads of a response
// (the interim ones up to the client's bound, the final one and trailers),
// each cut at the client's bound on heads, a header block of twice that,
// and a few SETTINGS, RST_STREAM. The client fails the stream past its
// bounds; the server may go on sending until the inspector closes the
// connection.
const (
	maxHeads    = upgrade.MaxInterim + 3
	maxHeadSize = upgrade.DefaultMaxResponseHeaderBytes
	maxBlock    = 2 * upgrade.DefaultMaxResponseHeaderBytes
	maxSettings = 64
	maxResets   = 8
)

func (t *wireTap) Read(p []byte) (int, error) {
	n, err := t.Conn.Read(p)
	if n > 0 || err != nil {
		t.mu.Lock()
		t.feed(p[:n])
		if err != nil && t.stalled != nil {
			// The HTTP/2 client closed the connection when a write timed
			// out; its streams fail with the read's error: say why.
			err = t.stalled
		}
		t.mu.Unlock()
	}
	return n, err
}

// Write bounds each write by writeTimeout: every frame the HTTP/2 client
// writes goes through here, the acknowledgements of the server's SETTINGS
// and PINGs included, so a server that stops reading ends the connection
// rather than stall it (the client gives a stream's write deadline no
// meaning of its own).
func (t *wireTap) Write(p []byte) (int, error) {
	_ = t.Conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	n, err := t.Conn.Write(p)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.mu.Lock()
		if t.stalled == nil {
			t.stalled = fmt.Errorf("the server stopped reading: a write did not complete within %v (%w)", writeTimeout, err)
		}
		t.mu.Unlock()
	}
	return n, err
}

func (t *wireTap) feed(b []byte) {
	for len(b) > 0 {
		if t.nhdr < 9 {
			c := copy(t.hdr[t.nhdr:], b)
			t.nhdr += c
			b = b[c:]
			if t.nhdr < 9 {
				return
			}
			t.left = int(t.hdr[0])<<16 | int(t.hdr[1])<<8 | int(t.hdr[2])
			switch http2.FrameType(t.hdr[3]) {
			case http2.FrameHeaders, http2.FrameContinuation, http2.FrameSettings, http2.FrameRSTStream, http2.FrameGoAway:
				t.keep = t.left <= maxKept
			default:
				t.keep = false
			}
			t.payload = t.payload[:0]
		}
		c := min(t.left, len(b))
		if t.keep {
			t.payload = append(t.payload, b[:c]...)
		}
		t.left -= c
		b = b[c:]
		if t.left == 0 {
			if t.keep {
				t.frame(http2.FrameType(t.hdr[3]), http2.Flags(t.hdr[4]), t.payload)
			}
			t.nhdr = 0
		}
	}
}

func (t *wireTap) frame(typ http2.FrameType, flags http2.Flags, p []byte) {
	switch typ {
	case http2.FrameSettings:
		if flags.Has(http2.FlagSettingsAck) {
			return
		}
		if t.gotSet.IsZero() {
			t.gotSet = time.Now()
		}
		for ; len(p) >= 6 && len(t.settings) < maxSettings; p = p[6:] {
			t.settings = append(t.settings, http2.Setting{ID: http2.SettingID(binary.BigEndian.Uint16(p)), Val: binary.BigEndian.Uint32(p[2:])})
		}
	case http2.FrameHeaders:
		if flags.Has(http2.FlagHeadersPadded) && len(p) > 0 {
			pad := int(p[0])
			if pad >= len(p) {
				return
			}
			p = p[1 : len(p)-pad]
		}
		if flags.Has(http2.FlagHeadersPriority) {
			if len(p) < 5 {
				return
			}
			p = p[5:]
		}
		t.block = append(t.block[:0], p...)
		t.open = true
		t.endHead = flags.Has(http2.FlagHeadersEndStream)
		if flags.Has(http2.FlagHeadersEndHeaders) {
			t.decode(true)
		}
	case http2.FrameContinuation:
		if len(t.block)+len(p) > maxBlock {
			if t.decErr == nil {
				t.decErr = fmt.Errorf("a header block over %d bytes, not decoded", maxBlock)
			}
			t.block, t.open = t.block[:0], false
			return
		}
		t.block = append(t.block, p...)
		if flags.Has(http2.FlagContinuationEndHeaders) {
			t.decode(true)
		}
	case http2.FrameRSTStream:
		if len(p) == 4 && len(t.resets) < maxResets {
			t.resets = append(t.resets, http2.ErrCode(binary.BigEndian.Uint32(p)))
		}
	case http2.FrameGoAway:
		if len(p) >= 8 {
			t.goaway = http2.ErrCode(binary.BigEndian.Uint32(p[4:])).String()
			if debug := strings.TrimSpace(string(p[8:])); debug != "" {
				t.goaway += fmt.Sprintf(" %q", firstLines([]byte(debug), 1))
			}
		}
	}
}

// decode decodes a header block, whole or not, keeping its fields up to
// maxHeadSize (by SETTINGS_MAX_HEADER_LIST_SIZE's measure; the table is
// kept in step past it) and up to maxHeads heads; after a failure the
// table is out of step and nothing more is decoded.
func (t *wireTap) decode(whole bool) {
	t.open = false
	if t.decErr != nil {
		return
	}
	keep := len(t.heads) < maxHeads
	var fs []hpack.HeaderField
	size := uint32(0)
	t.dec.SetEmitEnabled(keep)
	t.dec.SetEmitFunc(func(f hpack.HeaderField) {
		if size += f.Size(); size > maxHeadSize {
			t.cut = true
			t.dec.SetEmitEnabled(false)
			return
		}
		fs = append(fs, f)
	})
	_, err := t.dec.Write(t.block)
	if err == nil && whole {
		err = t.dec.Close()
	}
	if err != nil {
		t.decErr = err
		return
	}
	if keep {
		t.heads = append(t.heads, fs)
	}
}

// finish decodes the header block the client stopped reading in the
// middle of, past a bound: the connection is over, and the fields that
// arrived are shown.
func (t *wireTap) finish() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.open {
		t.decode(false)
	}
}

// wire is what the tap saw, copied.
type wire struct {
	settings []http2.Setting
	gotSet   time.Time
	heads    [][]hpack.HeaderField
	cut      bool
	endHead  bool
	resets   []http2.ErrCode
	goaway   string
	decErr   error
}

func (t *wireTap) seen() wire {
	t.mu.Lock()
	defer t.mu.Unlock()
	return wire{settings: append([]http2.Setting(nil), t.settings...), gotSet: t.gotSet, heads: append([][]hpack.HeaderField(nil), t.heads...),
		cut: t.cut, endHead: t.endHead, resets: append([]http2.ErrCode(nil), t.resets...), goaway: t.goaway, decErr: t.decErr}
}

// connectProtocol is the server's SETTINGS_ENABLE_CONNECT_PROTOCOL, and
// whether it sent it.
func (w wire) connectProtocol() (uint32, bool) {
	v, ok := uint32(0), false
	for _, s := range w.settings {
		if s.ID == http2.SettingEnableConnectProtocol {
			v, ok = s.Val, true
		}
	}
	return v, ok
}

// finalHead is the last non-1xx head (the response's), nil if none.
func (w wire) finalHead() []hpack.HeaderField {
	for _, h := range w.heads {
		if len(h) > 0 && h[0].Name == ":status" && !strings.HasPrefix(h[0].Value, "1") {
			return h
		}
	}
	return nil
}

// settingsText is the server's SETTINGS, one per line.
func (w wire) settingsText() string {
	var b strings.Builder
	for _, s := range w.settings {
		fmt.Fprintf(&b, "SETTINGS_%s = %d\n", strings.TrimPrefix(s.ID.String(), "SETTINGS_"), s.Val)
	}
	return b.String()
}

// headText is a head as "name: value" lines, in the order received.
func headText(fs []hpack.HeaderField) string {
	var b strings.Builder
	for _, f := range fs {
		fmt.Fprintf(&b, "%s: %s\n", f.Name, f.Value)
	}
	return b.String()
}
