package main

import (
	"bytes"
	"fmt"
	"io"
	"reflect"
	"testing"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// FuzzWireTap feeds the inspector's wire tap the frames a server sends.
// Whatever they are, it keeps what its bounds allow and no more, sees the
// same however the reads cut them, and, for the frames the HTTP/2 client
// reading through it (x/net's framer, as xconnect sets it up) takes before
// its first error, it shows what that client read: the same SETTINGS,
// heads (fields in order), RST_STREAM codes and GOAWAY code.
func FuzzWireTap(f *testing.F) {
	head := func(fields ...string) []byte {
		var b bytes.Buffer
		enc := hpack.NewEncoder(&b)
		for i := 0; i < len(fields); i += 2 {
			_ = enc.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]})
		}
		return b.Bytes()
	}
	frames := func(build func(fr *http2.Framer)) []byte {
		var b bytes.Buffer
		build(http2.NewFramer(&b, nil))
		return b.Bytes()
	}
	ok200 := head(":status", "200", "sec-websocket-protocol", "chat")
	for _, seed := range [][]byte{
		frames(func(fr *http2.Framer) {
			_ = fr.WriteSettings(http2.Setting{ID: http2.SettingEnableConnectProtocol, Val: 1}, http2.Setting{ID: http2.SettingMaxFrameSize, Val: 1 << 14})
			_ = fr.WriteSettingsAck()
			_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: head(":status", "103", "link", "</a>"), EndHeaders: true})
			_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: ok200, EndHeaders: true})
			_ = fr.WriteData(1, false, []byte("hello"))
			_ = fr.WriteRSTStream(1, http2.ErrCodeNo)
			_ = fr.WriteGoAway(1, http2.ErrCodeNo, []byte("bye"))
		}),
		frames(func(fr *http2.Framer) {
			_ = fr.WriteSettings()
			_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: ok200[:3], PadLength: 4,
				Priority: http2.PriorityParam{StreamDep: 3, Weight: 7}})
			_ = fr.WriteContinuation(1, false, ok200[3:5])
			_ = fr.WriteContinuation(1, true, ok200[5:])
			_ = fr.WriteDataPadded(1, true, []byte("x"), make([]byte, 3))
		}),
		frames(func(fr *http2.Framer) {
			_ = fr.WriteSettings()
			_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: head(":status", "403", "content-length", "2"), EndHeaders: true})
			_ = fr.WriteContinuation(1, true, ok200)
			_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: head("grpc-status", "0"), EndHeaders: true, EndStream: true})
		}),
		frames(func(fr *http2.Framer) {
			_ = fr.WriteSettings()
			_ = fr.WritePushPromise(http2.PushPromiseParam{StreamID: 1, PromiseID: 2, BlockFragment: ok200[:2]})
			_ = fr.WriteContinuation(1, true, ok200[2:])
		}),
		frames(func(fr *http2.Framer) {
			_ = fr.WriteSettings()
			_ = fr.WritePushPromise(http2.PushPromiseParam{StreamID: 1, PromiseID: 2})
			_ = fr.WriteContinuation(1, true, head(":method", "GET", ":path", "/pushed"))
			_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: ok200, EndHeaders: true})
		}),
		frames(func(fr *http2.Framer) {
			for range maxHeads + 2 {
				_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: head(":status", "103"), EndHeaders: true})
			}
			for range maxResets + 2 {
				_ = fr.WriteRSTStream(1, http2.ErrCodeCancel)
			}
		}),
		{0, 0, 0, 4, 0, 0, 0, 0, 0},
		{0, 0, 2, 1, 0x25, 0, 0, 0, 1, 5, 0},
		{},
	} {
		f.Add(seed, uint8(1))
		f.Add(seed, uint8(9))
	}
	f.Fuzz(func(t *testing.T, raw []byte, cut uint8) {
		whole := newWireTap(nil)
		whole.feed(raw)
		w := whole.seen()
		pieces := newWireTap(nil)
		for p, k := raw, int(cut)+1; len(p) > 0; p = p[min(k, len(p)):] {
			pieces.feed(p[:min(k, len(p))])
		}
		if p := pieces.seen(); !sameWire(p, w) {
			t.Fatalf("fed in reads of %d: %+v; whole: %+v", int(cut)+1, p, w)
		}
		if len(w.heads) > maxHeads || len(w.settings) > maxSettings || len(w.resets) > maxResets {
			t.Fatalf("kept %d heads, %d settings, %d resets; the bounds are %d, %d, %d",
				len(w.heads), len(w.settings), len(w.resets), maxHeads, maxSettings, maxResets)
		}
		for _, h := range w.heads {
			size := uint32(0)
			for _, f := range h {
				size += f.Size()
			}
			if size > maxHeadSize {
				t.Fatalf("kept a head of %d bytes, over %d", size, maxHeadSize)
			}
		}

		// What x/net's framer takes, up to its first error.
		want, taken := framerSaw(raw)
		tap := newWireTap(nil)
		tap.feed(raw[:taken])
		got := tap.seen()
		got.gotSet, got.cut, got.endHead, got.decErr = want.gotSet, want.cut, want.endHead, want.decErr
		if !sameWire(got, want) {
			t.Fatalf("of the %d bytes x/net's framer takes, the tap saw\n%+v\nwhere the framer read\n%+v", taken, got, want)
		}
	})
}

// framerSaw reads raw as xconnect's client does, up to the first error,
// and returns what it read, kept under the tap's bounds, and how many
// bytes the frames it took span.
func framerSaw(raw []byte) (wire, int) {
	r := &countingReader{r: bytes.NewReader(raw)}
	fr := http2.NewFramer(io.Discard, r)
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	fr.MaxHeaderListSize = maxHeadSize
	var w wire
	taken := 0
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			return w, taken
		}
		taken = r.n
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				_ = f.ForeachSetting(func(s http2.Setting) error {
					if len(w.settings) < maxSettings {
						w.settings = append(w.settings, s)
					}
					return nil
				})
			}
		case *http2.MetaHeadersFrame:
			if len(w.heads) < maxHeads {
				w.heads = append(w.heads, append([]hpack.HeaderField{}, f.Fields...))
			}
		case *http2.RSTStreamFrame:
			if len(w.resets) < maxResets {
				w.resets = append(w.resets, f.ErrCode)
			}
		case *http2.GoAwayFrame:
			w.goaway = f.ErrCode.String()
			if debug := bytes.TrimSpace(f.DebugData()); len(debug) > 0 {
				w.goaway += fmt.Sprintf(" %q", firstLines(debug, 1))
			}
		}
	}
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// sameWire compares two views of the wire, the time of the first
// SETTINGS by whether there was one.
func sameWire(a, b wire) bool {
	if a.gotSet.IsZero() != b.gotSet.IsZero() {
		return false
	}
	a.gotSet = b.gotSet
	if (a.decErr == nil) != (b.decErr == nil) {
		return false
	}
	a.decErr, b.decErr = nil, nil
	norm := func(w *wire) {
		if len(w.settings) == 0 {
			w.settings = nil
		}
		if len(w.resets) == 0 {
			w.resets = nil
		}
		if len(w.heads) == 0 {
			w.heads = nil
		}
		for i, h := range w.heads {
			if len(h) == 0 {
				w.heads[i] = nil
			}
		}
	}
	norm(&a)
	norm(&b)
	return reflect.DeepEqual(a, b)
}
