package websocket

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"io"
	"strings"
	"testing"
	"unicode/utf8"
)

// The inflated-size limit and the UTF-8 check of compressed messages hang
// on gorilla's unexported decompressor field; a gorilla without it would
// silently turn compression off (fail safe). This says so loudly.
func TestInflateHook(t *testing.T) {
	if !decompressorField.ok {
		t.Fatal("gorilla's Conn has no newDecompressionReader func(io.Reader) io.ReadCloser field: compression is never negotiated; port guardInflation")
	}
}

// BenchmarkInflateGuard is the guard's cost on a compressed 16 KiB binary
// message (so no UTF-8 is checked), with the default limit: inflated
// through it, or by flate's reader alone as gorilla makes it (the
// message with 00 00 ff ff and a final empty block appended).
func BenchmarkInflateGuard(b *testing.B) {
	msg := bytes.Repeat([]byte("hello, wörld — ça va? "), 16<<10/24)
	var buf bytes.Buffer
	w, err := flate.NewWriter(&buf, flate.BestSpeed)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := w.Write(msg); err != nil {
		b.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	data := bytes.TrimSuffix(buf.Bytes(), []byte{0, 0, 0xff, 0xff})
	fr := flate.NewReader(nil)
	var src bytes.Reader
	var tail strings.Reader
	inflater := func() io.ReadCloser {
		src.Reset(data)
		tail.Reset("\x00\x00\xff\xff\x01\x00\x00\xff\xff")
		if err := fr.(flate.Resetter).Reset(io.MultiReader(&src, &tail), nil); err != nil {
			b.Fatal(err)
		}
		return fr
	}
	out := make([]byte, 4096)
	for _, guarded := range []bool{false, true} {
		name := "bare"
		if guarded {
			name = "guarded"
		}
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(msg)))
			b.ReportAllocs()
			for b.Loop() {
				rc := inflater()
				var r io.Reader = rc
				if guarded {
					r = &inflateGuard{rc: rc, left: defaultReadLimit}
				}
				n := 0
				for {
					k, err := r.Read(out)
					n += k
					if err == io.EOF {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
				}
				if n != len(msg) {
					b.Fatalf("inflated %d bytes, want %d", n, len(msg))
				}
			}
		})
	}
}

// utf8Tail, fed a string in any pieces, agrees with utf8.Valid on the
// whole.
func FuzzUTF8Tail(f *testing.F) {
	for _, s := range []string{"", "a", "é", "€", "😀", "\xff", "a\xe2\x82", "\xed\xa0\x80", "\xc0\xaf", "\xf4\x90\x80\x80", "añ€😀añ€😀"} {
		f.Add([]byte(s), uint8(1), uint8(2))
	}
	f.Fuzz(func(t *testing.T, p []byte, cut1, cut2 uint8) {
		want := utf8.Valid(p)
		a := min(int(cut1), len(p))
		b := min(a+int(cut2), len(p))
		var u utf8Tail
		got := u.valid(p[:a]) && u.valid(p[a:b]) && u.valid(p[b:]) && u.n == 0
		if got != want {
			t.Errorf("%q cut at %d, %d: got %v, utf8.Valid says %v", p, a, b, got, want)
		}
	})
}

// maskedFrames is a client's stream: frames (b0, payload), masked.
func maskedFrames(frames ...any) []byte {
	var out []byte
	key := [4]byte{1, 2, 3, 4}
	for i := 0; i < len(frames); i += 2 {
		b0, p := frames[i].(byte), []byte(frames[i+1].(string))
		out = append(out, b0)
		switch n := len(p); {
		case n < 126:
			out = append(out, bitMask|byte(n))
		case n < 1<<16:
			out = binary.BigEndian.AppendUint16(append(out, bitMask|126), uint16(n))
		default:
			out = binary.BigEndian.AppendUint64(append(out, bitMask|127), uint64(n))
		}
		out = append(out, key[:]...)
		for j, c := range p {
			out = append(out, c^key[j&3])
		}
	}
	return out
}

// scan finds the same violation, at the same place in the stream, however
// gorilla's reads cut the stream.
func TestScanSplits(t *testing.T) {
	long := string(bytes.Repeat([]byte("añ€😀"), 100))
	for _, tc := range []struct {
		name   string
		stream []byte
		want   *violation
		at     int // offset in stream at or before which the violation must be reported
	}{
		{"valid", maskedFrames(byte(opText), "a\xe2", byte(bitFIN|0x9), "\xff", byte(bitFIN|opContinuation), "\x82\xac"+long), nil, 0},
		{"invalid in a long frame", maskedFrames(byte(bitFIN|opText), long+"\xff"+long), errUTF8, 0},
		{"incomplete at the end", maskedFrames(byte(bitFIN|opText), long+"\xe2"), errUTF8, 0},
		{"RSV1 ping", maskedFrames(byte(bitFIN|opText), "ok", byte(bitFIN|bitRSV1|0x9), ""), errRSV1Control, 8},
		{"1-byte close", maskedFrames(byte(bitFIN|opText), "ok", byte(bitFIN|opClose), "x"), errCloseLength1, 9},
		{"64-bit length, top bit set", append(maskedFrames(byte(bitFIN|opText), "ok"),
			bitFIN|opBinary, bitMask|127, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4), errLengthTopBit, 10},
	} {
		for size := 1; size <= len(tc.stream); size = size*2 + 1 {
			in := inbound{validate: true}
			var got *violation
			delivered := 0
			for off := 0; off < len(tc.stream) && got == nil; off += size {
				chunk := tc.stream[off:min(off+size, len(tc.stream))]
				var k int
				k, got = in.scan(chunk)
				delivered += k
			}
			if got != tc.want {
				t.Errorf("%s, reads of %d: got %v, want %v", tc.name, size, got, tc.want)
				continue
			}
			if got != nil && tc.at > 0 && delivered > tc.at {
				t.Errorf("%s, reads of %d: %d bytes delivered before the violation, want at most %d", tc.name, size, delivered, tc.at)
			}
			if got != nil && delivered >= len(tc.stream) {
				t.Errorf("%s, reads of %d: the whole stream was delivered", tc.name, size)
			}
		}
	}
}

// BenchmarkScanText is the UTF-8 check's cost per byte of text arriving
// (unmasking into a stack buffer and validating), against following the
// same frames without it.
func BenchmarkScanText(b *testing.B) {
	for _, bc := range []struct {
		name     string
		text     string
		validate bool
	}{
		{"ascii/validated", "hello, world -- ca va? ", true},
		{"mixed/validated", "hello, wörld — ça va? ", true},
		{"mixed/skipped", "hello, wörld — ça va? ", false},
	} {
		stream := maskedFrames(byte(bitFIN|opText), strings.Repeat(bc.text, 16<<10/len(bc.text)))
		validate := bc.validate
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(stream)))
			b.ReportAllocs()
			in := inbound{validate: validate}
			for b.Loop() {
				for off := 0; off < len(stream); off += 4096 {
					if _, v := in.scan(stream[off:min(off+4096, len(stream))]); v != nil {
						b.Fatal(v.reason)
					}
				}
			}
		})
	}
}

// honoursDeflate only ever narrows gorilla's decision: an offer it accepts
// is one gorilla would negotiate (FuzzOffersDeflate holds offersDeflate to
// gorilla), and a bare offer is always accepted. And on well-formed
// offers made of the fuzzer's bytes (deflateOffers), it accepts exactly
// those RFC 7692 §7.1 lets gorilla's one mode honour.
func FuzzHonoursDeflate(f *testing.F) {
	for _, s := range []string{
		"permessage-deflate; server_max_window_bits=8, permessage-deflate",
		`permessage-deflate; server_max_window_bits="15"; client_max_window_bits`,
		"permessage-deflate; client_max_window_bits=08",
		"x; a=\"b,c\", permessage-deflate; server_no_context_takeover",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		lines := []string{s}
		if ok, _ := honoursDeflate(lines); ok && !offersDeflate(lines) {
			t.Errorf("%q: honoured, but gorilla would not negotiate it", s)
		}
		if ok, _ := honoursDeflate(append(lines, "permessage-deflate")); !ok {
			t.Errorf("%q then a bare offer: declined", s)
		}
		line, want := deflateOffers([]byte(s))
		if got, _ := honoursDeflate([]string{line}); got != want {
			t.Errorf("honoursDeflate(%q) = %v, want %v", line, got, want)
		}
	})
}

// deflateOffers makes a Sec-WebSocket-Extensions line of b: a byte with
// its top bit set starts an offer (of permessage-deflate, or of x-other
// with 0x40 set), any other adds a parameter to the current one; and it
// says whether an offer of it can be honoured: one of permessage-deflate
// whose parameters are each given once, the no_context_takeover ones
// without a value, server_max_window_bits 15 (gorilla's window), and
// client_max_window_bits bare or 8 to 15 without a leading zero.
func deflateOffers(b []byte) (line string, honoured bool) {
	names := []string{"server_no_context_takeover", "client_no_context_takeover", "server_max_window_bits", "client_max_window_bits", "x"}
	values := []string{"", "8", "15", `"15"`, "16", "08", `"8"`, "9"}
	var offers []string
	good, seen := false, map[string]bool{}
	for i, c := range b {
		if i == 0 || c&0x80 != 0 {
			honoured = honoured || good
			name := "permessage-deflate"
			if c&0xc0 == 0xc0 {
				name = "x-other"
			}
			offers, good, seen = append(offers, name), name == "permessage-deflate", map[string]bool{}
			if c&0x80 != 0 {
				continue
			}
		}
		name, value := names[int(c)%len(names)], values[int(c)/len(names)%len(values)]
		param := "; " + name
		if value != "" {
			param += "=" + value
		}
		offers[len(offers)-1] += param
		v := strings.Trim(value, `"`)
		switch ok := false; name {
		case "server_no_context_takeover", "client_no_context_takeover":
			ok = value == ""
			good = good && ok && !seen[name]
		case "server_max_window_bits":
			ok = v == "15"
			good = good && ok && !seen[name]
		case "client_max_window_bits":
			ok = value == "" || v != "" && v[0] != '0' && (v == "8" || v == "9" || v == "15")
			good = good && ok && !seen[name]
		default:
			good = false
		}
		seen[name] = true
	}
	return strings.Join(offers, ", "), honoured || good
}

// Whatever the bytes, scan does not panic, finds a violation exactly
// where a slow reading of RFC 6455 does (violates), and finds the same
// one however the stream is cut into reads. It stops at the start of the
// header byte or payload piece that breaks the rule, so smaller reads
// may let through more of the good bytes before it, never fewer, and
// never the stream's end.
func FuzzScan(f *testing.F) {
	f.Add(maskedFrames(byte(opText), "a\xe2", byte(bitFIN|0x9), "\xff", byte(bitFIN|opContinuation), "\x82\xac"), uint8(3), true)
	f.Add(maskedFrames(byte(bitFIN|bitRSV1|opText), "xyz", byte(bitFIN|opClose), "x"), uint8(1), true)
	f.Add([]byte{0x81, 0xff, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4, 0xc3}, uint8(5), false)
	f.Fuzz(func(t *testing.T, stream []byte, size uint8, deflate bool) {
		whole := inbound{validate: true, deflate: deflate}
		wantK, want := whole.scan(stream)
		cut := inbound{validate: true, deflate: deflate}
		step := int(size) + 1
		gotK := 0
		var got *violation
		for off := 0; off < len(stream) && got == nil; off += step {
			var k int
			k, got = cut.scan(stream[off:min(off+step, len(stream))])
			gotK += k
		}
		if got != want || gotK < wantK || got != nil && gotK >= len(stream) {
			t.Errorf("reads of %d: %v at %d; whole: %v at %d", step, got, gotK, want, wantK)
		}
		if bad := violates(stream); (want != nil) != bad {
			t.Errorf("scan found %v; the stream breaks a rule: %v", want, bad)
		}
	})
}

// violates reads a client's stream, whole frames and a last one cut short,
// the slow way, and reports whether it breaks a rule scan enforces: RSV1
// on a control or continuation frame, a close payload of 1 byte, a 64-bit
// length with its top bit set, a text message (uncompressed) that is not
// UTF-8 so far, or at its end.
func violates(s []byte) bool {
	var text []byte
	inText := false
	for len(s) > 0 {
		b0 := s[0]
		op, fin, rsv1 := b0&0x0f, b0&bitFIN != 0, b0&bitRSV1 != 0
		if rsv1 && (op >= opClose || op == opContinuation) {
			return true
		}
		if len(s) < 2 {
			return false
		}
		n := uint64(s[1] &^ bitMask)
		if op == opClose && n == 1 {
			return true
		}
		head := 2
		switch n {
		case 126:
			head = 4
		case 127:
			if len(s) > 2 && s[2]&0x80 != 0 {
				return true
			}
			head = 10
		}
		if s[1]&bitMask != 0 {
			head += 4
		}
		if len(s) < head {
			return false
		}
		switch n {
		case 126:
			n = uint64(binary.BigEndian.Uint16(s[2:]))
		case 127:
			n = binary.BigEndian.Uint64(s[2:])
		}
		var key [4]byte
		if s[1]&bitMask != 0 {
			copy(key[:], s[head-4:])
		}
		complete := uint64(len(s)-head) >= n
		p := s[head:]
		if complete {
			p = p[:n]
		}
		if op == opText || op == opBinary {
			inText, text = op == opText && !rsv1, nil
		}
		if op < opClose && inText {
			for i, c := range p {
				text = append(text, c^key[i&3])
			}
			if !utf8Prefix(text) || complete && fin && !utf8.Valid(text) {
				return true
			}
		}
		if !complete {
			return false
		}
		if op < opClose && fin {
			inText = false
		}
		s = s[uint64(head)+n:]
	}
	return false
}

// utf8Prefix reports whether b is UTF-8, but for an end that more bytes
// could make a character of.
func utf8Prefix(b []byte) bool {
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		if r == utf8.RuneError && size == 1 {
			return !utf8.FullRune(b)
		}
		b = b[size:]
	}
	return true
}
