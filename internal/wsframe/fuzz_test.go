package wsframe_test

import (
	"bytes"
	"encoding/binary"
	"testing"
	"testing/iotest"

	"github.com/switchyard-http/switchyard/internal/wsframe"
)

// FuzzReadServer reads a frame out of what a server sends. Whatever the
// bytes, ReadServer takes exactly one frame as RFC 6455 §5.2 lays it out
// (the length in 7, 16 or 64 bits, then the payload) and nothing after
// it, returns it as it is when it is unmasked, complete and within max,
// fails otherwise, and answers the same when the bytes come one at a time.
func FuzzReadServer(f *testing.F) {
	for _, s := range [][]byte{
		serverFrame(0x81, []byte("hello"), 0),
		serverFrame(0x82, bytes.Repeat([]byte{7}, 200), 2),
		serverFrame(0x02, []byte("in eight"), 8),
		append(serverFrame(0x88, []byte{0x03, 0xe8}, 0), "next"...),
		{0x81, 0x85, 1, 2, 3, 4, 'h', 'e', 'l', 'l', 'o'},
		{0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 1},
		{0x82, 126, 0x01},
		{0x81},
		{},
	} {
		f.Add(s)
	}
	const max = 1000
	f.Fuzz(func(t *testing.T, raw []byte) {
		r := bytes.NewReader(raw)
		b0, p, err := wsframe.ReadServer(r, max)
		consumed := len(raw) - r.Len()
		b0One, pOne, errOne := wsframe.ReadServer(iotest.OneByteReader(bytes.NewReader(raw)), max)
		if b0One != b0 || !bytes.Equal(pOne, p) || (errOne == nil) != (err == nil) {
			t.Fatalf("one byte at a time: %#x %q %v; at once: %#x %q %v", b0One, pOne, errOne, b0, p, err)
		}

		// The frame as RFC 6455 §5.2 lays it out.
		head, n, masked, complete := 2, uint64(0), false, len(raw) >= 2
		if complete {
			masked = raw[1]&0x80 != 0
			switch n = uint64(raw[1] & 0x7f); n {
			case 126:
				head = 4
			case 127:
				head = 10
			}
			if complete = len(raw) >= head; complete && head == 4 {
				n = uint64(binary.BigEndian.Uint16(raw[2:]))
			} else if complete && head == 10 {
				n = binary.BigEndian.Uint64(raw[2:])
			}
			complete = complete && uint64(len(raw)-head) >= n
		}
		valid := complete && !masked && n <= max
		if (err == nil) != valid {
			t.Fatalf("ReadServer(%x) = %v; complete %v, masked %v, %d bytes of payload", raw, err, complete, masked, n)
		}
		if err != nil {
			return
		}
		if consumed != head+int(n) || b0 != raw[0] || !bytes.Equal(p, raw[head:consumed]) {
			t.Fatalf("ReadServer(%x) = %#x, %q after reading %d bytes; want %#x, %q, %d bytes", raw, b0, p, consumed, raw[0], raw[head:head+int(n)], head+int(n))
		}
	})
}
