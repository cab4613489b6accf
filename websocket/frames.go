package websocket

import (
	"encoding/binary"
	"errors"
	"unicode/utf8"

	gws "github.com/gorilla/websocket"
)

// gorilla reads and writes frames through wireConn, which follows them
// with the two small state machines of this file: inbound, over the bytes
// gorilla is about to read, enforces what gorilla does not (RFC 6455 §5.2,
// §5.5.1, §8.1; RFC 7692 §6.1); outbound, over the bytes gorilla writes, knows
// whether a message is half sent. Neither copies a frame: inbound looks at
// the bytes in gorilla's own buffer, and unmasks only the payload of text
// messages it validates, a chunk at a time on the stack.

// Frame header bits (RFC 6455 §5.2).
const (
	bitFIN  = 0x80
	bitRSV1 = 0x40
	bitMask = 0x80

	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
)

func errorf(s string) error { return errors.New("websocket: " + s) }

// violation is a frame that fails the connection: the close code and
// reason the peer gets, and the error the handler's read returns.
type violation struct {
	code   int
	reason string
	err    error
}

var (
	errRSV1Control      = &violation{gws.CloseProtocolError, "RSV1 set on a control frame", errorf("RSV1 set on a control frame")}
	errRSV1Continuation = &violation{gws.CloseProtocolError, "RSV1 set on a continuation frame", errorf("RSV1 set on a continuation frame")}
	errCloseLength1     = &violation{gws.CloseProtocolError, "close frame with a 1-byte payload", errorf("close frame with a 1-byte payload")}
	errLengthTopBit     = &violation{gws.CloseProtocolError, "64-bit frame length with its top bit set", errorf("64-bit frame length with its most significant bit set")}
	errUTF8             = &violation{gws.CloseInvalidFramePayloadData, "invalid UTF-8 in a text message", ErrInvalidUTF8}
	errDeflate          = &violation{gws.CloseInvalidFramePayloadData, "invalid compressed data", ErrInvalidCompressedData}
	errTooBig           = &violation{gws.CloseMessageTooBig, "message too big", gws.ErrReadLimit}
	errMessageTimeout   = &violation{gws.ClosePolicyViolation, "message not finished in time", ErrMessageTimeout}
)

// inbound follows the frames of the client's byte stream. The zero value
// expects a frame header; validate and deflate are set at the switch.
type inbound struct {
	// The small fields first, packed: each connection holds one inbound.
	validate bool // check the UTF-8 of text messages (not Options.SkipUTF8Validation)
	deflate  bool // permessage-deflate was negotiated
	payload  bool // in a payload (else in a header)
	closed   bool // a close frame arrived
	fin      bool // the current frame ends its message
	text     bool // the current message is uncompressed text, validated here
	msg      bool // a data message has begun and its last frame has not ended (Options.MessageTimeout)
	began    bool // a data message began in the bytes scanned since wireConn.Read last cleared it
	op       byte // opcode of the current frame

	hdr  [14]byte // the header being read
	key  [4]byte
	utf8 utf8Tail // the incomplete last sequence of the current text message

	nh        int    // bytes of the header read
	need      int    // its length, as far as its bytes so far tell
	remaining uint64 // payload bytes of the current frame still to come
	pos       int    // payload bytes of the current frame seen, for the mask

	// compressedText queues, for each compressed message whose first frame
	// has been seen but whose reader gorilla has not opened yet, whether it
	// is text: gorilla opens them in order (see inflateGuard).
	compressedText []bool
}

// scan follows p, the next bytes gorilla reads. It returns len(p), or the
// offset of the first byte that breaks a rule and the violation: gorilla
// may then have the bytes before it, which end neither the offending
// frame's header nor the offending message, so gorilla's next read is the
// one that must fail.
func (in *inbound) scan(p []byte) (int, *violation) {
	for i := 0; i < len(p); {
		if !in.payload {
			if in.nh == 0 {
				in.need = 2
			}
			b := p[i]
			in.hdr[in.nh] = b
			in.nh++
			switch in.nh {
			case 1:
				if op := b & 0x0f; b&bitRSV1 != 0 {
					switch {
					case op >= opClose:
						return i, errRSV1Control
					case op == opContinuation:
						return i, errRSV1Continuation
					}
				}
			case 2:
				n := b &^ bitMask
				if in.hdr[0]&0x0f == opClose && n == 1 {
					return i, errCloseLength1
				}
				switch n {
				case 126:
					in.need += 2
				case 127:
					in.need += 8
				}
				if b&bitMask != 0 {
					in.need += 4
				}
			case 3:
				// The first byte of a 64-bit length, whose most
				// significant bit must be 0 (RFC 6455 §5.2): gorilla
				// would read the length as negative and fail with
				// ErrReadLimit, sending no close frame.
				if in.hdr[1]&^bitMask == 127 && b&0x80 != 0 {
					return i, errLengthTopBit
				}
			}
			if in.nh == in.need {
				if v := in.startFrame(); v != nil {
					return i, v
				}
			}
			i++
			continue
		}
		m := min(in.remaining, uint64(len(p)-i))
		if in.text && in.op < opClose && !in.checkText(p[i:i+int(m)]) {
			return i, errUTF8
		}
		in.pos += int(m)
		in.remaining -= m
		if in.remaining == 0 {
			if v := in.endFrame(); v != nil {
				return i, v
			}
		}
		i += int(m)
	}
	return len(p), nil
}

// startFrame takes in the complete header; a frame without payload also
// ends here.
func (in *inbound) startFrame() *violation {
	h := in.hdr[:in.nh]
	b0, n := h[0], uint64(h[1]&^bitMask)
	rest := h[2:]
	switch n {
	case 126:
		n, rest = uint64(binary.BigEndian.Uint16(rest)), rest[2:]
	case 127:
		n, rest = binary.BigEndian.Uint64(rest), rest[8:]
	}
	in.key = [4]byte{}
	if h[1]&bitMask != 0 {
		copy(in.key[:], rest)
	}
	in.op, in.fin, in.remaining, in.pos = b0&0x0f, b0&bitFIN != 0, n, 0
	in.nh, in.payload = 0, n > 0
	in.closed = in.closed || in.op == opClose
	if in.op == opText || in.op == opBinary { // a message begins
		in.msg, in.began = true, true
		compressed := b0&bitRSV1 != 0
		in.text = in.validate && !compressed && in.op == opText
		in.utf8 = utf8Tail{}
		if compressed && in.deflate && in.validate {
			in.compressedText = append(in.compressedText, in.op == opText)
		}
	}
	if n == 0 {
		return in.endFrame()
	}
	return nil
}

// endFrame follows the last payload byte of a frame: a text message must
// not end inside a UTF-8 sequence.
func (in *inbound) endFrame() *violation {
	in.payload = false
	if in.op < opClose && in.fin {
		in.msg = false
		incomplete := in.text && in.utf8.n > 0
		in.text = false
		if incomplete {
			return errUTF8
		}
	}
	return nil
}

// nextCompressedIsText pops what the queue says of the next compressed
// message.
func (in *inbound) nextCompressedIsText() bool {
	if len(in.compressedText) == 0 {
		return false
	}
	text := in.compressedText[0]
	in.compressedText = in.compressedText[1:]
	if len(in.compressedText) == 0 {
		in.compressedText = in.compressedText[:0:0]
	}
	return text
}

// checkText unmasks p (payload of the current frame, from in.pos) into a
// buffer on the stack, a chunk at a time, and validates it.
func (in *inbound) checkText(p []byte) bool {
	var buf [512]byte
	pos := in.pos
	for len(p) > 0 {
		n := copy(buf[:], p)
		maskInto(buf[:n], p[:n], in.key, pos)
		if !in.utf8.valid(buf[:n]) {
			return false
		}
		p, pos = p[n:], pos+n
	}
	return true
}

// maskInto sets dst to src XOR the mask key, src being the payload from
// offset pos (RFC 6455 §5.3), eight bytes at a time.
func maskInto(dst, src []byte, key [4]byte, pos int) {
	var k [8]byte
	for i := range k {
		k[i] = key[(pos+i)&3]
	}
	k8 := binary.LittleEndian.Uint64(k[:])
	i := 0
	for ; i+8 <= len(src); i += 8 {
		binary.LittleEndian.PutUint64(dst[i:], binary.LittleEndian.Uint64(src[i:])^k8)
	}
	for ; i < len(src); i++ {
		dst[i] = src[i] ^ k[i&7]
	}
}

// utf8Tail validates a text message a piece at a time: it holds the
// incomplete sequence a piece ended with.
type utf8Tail struct {
	b [utf8.UTFMax]byte
	n uint8
}

// valid reports whether p, following what came before, may still be part
// of valid UTF-8.
func (u *utf8Tail) valid(p []byte) bool {
	if u.n > 0 {
		for len(p) > 0 && !utf8.FullRune(u.b[:u.n]) {
			u.b[u.n] = p[0]
			u.n++
			p = p[1:]
		}
		if !utf8.FullRune(u.b[:u.n]) {
			return true // still incomplete
		}
		if r, size := utf8.DecodeRune(u.b[:u.n]); r == utf8.RuneError && size <= 1 || size != int(u.n) {
			return false
		}
		u.n = 0
	}
	// Hold back an incomplete last sequence (a valid prefix: FullRune
	// reports an invalid one as full, for Valid to refuse).
	cut := len(p)
	for i := len(p) - 1; i >= 0 && i >= len(p)-(utf8.UTFMax-1); i-- {
		if utf8.RuneStart(p[i]) {
			if !utf8.FullRune(p[i:]) {
				cut = i
			}
			break
		}
	}
	if !utf8.Valid(p[:cut]) {
		return false
	}
	u.n = uint8(copy(u.b[:], p[cut:]))
	return true
}

// outbound follows the frames gorilla writes, each of which starts a
// Write (gorilla writes a frame's header with the start of its payload;
// the rest of a large payload may follow in a second Write).
type outbound struct {
	remaining uint64 // payload bytes of the current frame still to come
	open      bool   // a data frame without FIN was written: a message is half sent
}

// parseServerHeader reports what p, the start of a server frame, is: its opcode, FIN,
// payload length and header length. ok is false if p is too short to
// tell.
func parseServerHeader(p []byte) (op byte, fin bool, n uint64, hlen int, ok bool) {
	if len(p) < 2 {
		return 0, false, 0, 0, false
	}
	op, fin, n, hlen = p[0]&0x0f, p[0]&bitFIN != 0, uint64(p[1]&^bitMask), 2
	switch n {
	case 126:
		if len(p) < 4 {
			return 0, false, 0, 0, false
		}
		n, hlen = uint64(binary.BigEndian.Uint16(p[2:])), 4
	case 127:
		if len(p) < 10 {
			return 0, false, 0, 0, false
		}
		n, hlen = binary.BigEndian.Uint64(p[2:]), 10
	}
	return op, fin, n, hlen, true
}

// closeUnfinished is the close frame that replaces a normal one while a
// message is half sent.
var closeUnfinished = append([]byte{bitFIN | opClose, 0}, gws.FormatCloseMessage(gws.CloseInternalServerErr, "message unfinished")...)

func init() { closeUnfinished[1] = byte(len(closeUnfinished) - 2) }
