package wstest

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
)

// MaxFrame is the largest payload ReadFrame takes.
const MaxFrame = 64 << 20

// ClientFrame is one frame as a client writes it (RFC 6455 §5.2), for a
// test that writes raw frames: b0 is its first byte as given (FIN, the
// RSV bits and the opcode: 0x80|0x1 is a whole text message; a fragment or
// a reserved bit is the test's to set), then the payload's length in its
// shortest form, a random masking key and the payload masked with it.
func ClientFrame(b0 byte, payload []byte) []byte {
	f := []byte{b0}
	switch n := len(payload); {
	case n < 126:
		f = append(f, 0x80|byte(n))
	case n < 1<<16:
		f = append(f, 0x80|126)
		f = binary.BigEndian.AppendUint16(f, uint16(n))
	default:
		f = append(f, 0x80|127)
		f = binary.BigEndian.AppendUint64(f, uint64(n))
	}
	var key [4]byte
	_, _ = rand.Read(key[:])
	f = append(f, key[:]...)
	for i, b := range payload {
		f = append(f, b^key[i%4])
	}
	return f
}

// ReadFrame reads one frame as a server writes it (unmasked) and returns
// its first byte (FIN, the RSV bits and the opcode) and its payload. A
// masked frame, or one over MaxFrame, is an error, as is a stream that
// ends within the frame.
func ReadFrame(r io.Reader) (b0 byte, payload []byte, err error) {
	var head [2]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return 0, nil, fmt.Errorf("reading a WebSocket frame: %w", err)
	}
	if head[1]&0x80 != 0 {
		return 0, nil, fmt.Errorf("frame header % x: the server masked a frame", head)
	}
	n := uint64(head[1] & 0x7f)
	var ext []byte
	switch n {
	case 126:
		ext = make([]byte, 2)
	case 127:
		ext = make([]byte, 8)
	}
	if ext != nil {
		if _, err := io.ReadFull(r, ext); err != nil {
			return 0, nil, fmt.Errorf("reading a WebSocket frame's length: %w", err)
		}
		if len(ext) == 2 {
			n = uint64(binary.BigEndian.Uint16(ext))
		} else {
			n = binary.BigEndian.Uint64(ext)
		}
	}
	if n > MaxFrame {
		return 0, nil, fmt.Errorf("a WebSocket frame of %d bytes, over %d", n, MaxFrame)
	}
	payload = make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		return 0, nil, fmt.Errorf("reading a WebSocket frame's payload: %w", err)
	}
	return head[0], payload, nil
}
