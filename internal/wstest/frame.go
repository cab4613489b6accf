package wstest

import (
	"io"

	"github.com/switchyard-http/switchyard/internal/wsframe"
)

// MaxFrame is the largest payload ReadFrame takes.
const MaxFrame = 64 << 20

// ClientFrame is one frame as a client writes it (RFC 6455 §5.2), for a
// test that writes raw frames: b0 is its first byte as given (FIN, the
// RSV bits and the opcode: 0x80|0x1 is a whole text message; a fragment or
// a reserved bit is the test's to set), then the payload's length in its
// shortest form, a random masking key and the payload masked with it.
func ClientFrame(b0 byte, payload []byte) []byte {
	return wsframe.AppendClient(nil, b0, payload)
}

// ReadFrame reads one frame as a server writes it (unmasked) and returns
// its first byte (FIN, the RSV bits and the opcode) and its payload. A
// masked frame, or one over MaxFrame, is an error, as is a stream that
// ends within the frame.
func ReadFrame(r io.Reader) (b0 byte, payload []byte, err error) {
	return wsframe.ReadServer(r, MaxFrame)
}
