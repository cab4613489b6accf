// Package wsframe writes WebSocket frames as a client does and reads them
// as a server sends them (RFC 6455 §5.2), one frame at a time, for what
// speaks the wire format by hand: the switchyard command's chat and the
// tests that send what no WebSocket library would. It uses the standard
// library only and links no testing code.
package wsframe

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"slices"
)

// AppendClient appends to b one frame as a client writes it and returns
// the extended slice: b0 as given (FIN, the RSV bits and the opcode:
// 0x80|0x1 is a whole text message), then the payload's length in its
// shortest form with the mask bit set, a random masking key (RFC 6455
// §5.3), and the payload masked with it.
func AppendClient(b []byte, b0 byte, payload []byte) []byte {
	b = append(b, b0)
	switch n := len(payload); {
	case n < 126:
		b = append(b, 0x80|byte(n))
	case n < 1<<16:
		b = append(b, 0x80|126)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, 0x80|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	var key [4]byte
	_, _ = rand.Read(key[:]) // crypto/rand.Read never fails
	b = append(b, key[:]...)
	for i, c := range payload {
		b = append(b, c^key[i%4])
	}
	return b
}

// ReadServer reads one frame as a server writes it (unmasked) and returns
// its first byte (FIN, the RSV bits and the opcode) and its payload; what
// those mean is the caller's to check. A masked frame, or one whose
// payload is over max bytes, is an error, read no further. The payload's
// memory grows with the bytes that arrive, not with the length the frame
// claims. An error of the reader is returned wrapped: io.EOF when the
// stream ended before the frame, io.ErrUnexpectedEOF when it ended within
// it.
func ReadServer(r io.Reader, max uint64) (b0 byte, payload []byte, err error) {
	var head [10]byte // the first two bytes and up to 8 of length
	if _, err := io.ReadFull(r, head[:2]); err != nil {
		return 0, nil, fmt.Errorf("reading a WebSocket frame: %w", err)
	}
	if head[1]&0x80 != 0 {
		return 0, nil, fmt.Errorf("frame header % x: the server masked a frame (RFC 6455 §5.1 forbids it)", head[:2])
	}
	n := uint64(head[1] & 0x7f)
	switch n {
	case 126:
		if _, err := io.ReadFull(r, head[2:4]); err != nil {
			return 0, nil, fmt.Errorf("reading a WebSocket frame's length: %w", noEOF(err))
		}
		n = uint64(binary.BigEndian.Uint16(head[2:]))
	case 127:
		if _, err := io.ReadFull(r, head[2:10]); err != nil {
			return 0, nil, fmt.Errorf("reading a WebSocket frame's length: %w", noEOF(err))
		}
		n = binary.BigEndian.Uint64(head[2:])
	}
	if n > max {
		return 0, nil, fmt.Errorf("a WebSocket frame of %d bytes, over the limit of %d", n, max)
	}
	// The payload grows with the bytes that arrive, from one chunk,
	// doubling up to n: a peer that claims max bytes and sends few costs
	// what it sent (and a chunk), not what it claimed.
	payload = make([]byte, 0, min(n, chunk))
	for uint64(len(payload)) < n {
		if len(payload) == cap(payload) {
			payload = slices.Grow(payload, int(min(n-uint64(len(payload)), uint64(len(payload)))))
		}
		m, err := io.ReadFull(r, payload[len(payload):min(n, uint64(cap(payload)))])
		payload = payload[:len(payload)+m]
		if err != nil {
			return 0, nil, fmt.Errorf("reading a WebSocket frame's payload: %w", noEOF(err))
		}
	}
	return head[0], payload, nil
}

// chunk is the most ReadServer allocates for a payload ahead of its bytes.
const chunk = 64 << 10

// noEOF is err, but io.ErrUnexpectedEOF for io.EOF: past a frame's first
// bytes, an end of stream cuts the frame short.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
