package wsframe_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/switchyard-http/switchyard/internal/testkit"
	"github.com/switchyard-http/switchyard/internal/wsframe"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// serverFrame is p as one unmasked frame with first byte b0, its length in
// the form given (0 for the shortest).
func serverFrame(b0 byte, p []byte, lenBytes int) []byte {
	f := []byte{b0}
	switch lenBytes {
	case 2:
		f = binary.BigEndian.AppendUint16(append(f, 126), uint16(len(p)))
	case 8:
		f = binary.BigEndian.AppendUint64(append(f, 127), uint64(len(p)))
	default:
		f = append(f, byte(len(p)))
	}
	return append(f, p...)
}

// AppendClient appends after what b holds; each length takes its shortest
// form, the mask bit is set, and the payload unmasks with the key that
// precedes it.
func TestAppendClient(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		n       int
		lenBits byte // the second byte's length field
		ext     int  // bytes of extended length
	}{{0, 0, 0}, {125, 125, 0}, {126, 126, 2}, {65535, 126, 2}, {65536, 127, 8}} {
		p := bytes.Repeat([]byte("xyz"), tc.n/3+1)[:tc.n]
		f := wsframe.AppendClient([]byte("prefix"), 0x82, p)
		f, ok := bytes.CutPrefix(f, []byte("prefix"))
		if !ok {
			t.Fatalf("%d bytes: what b held was not kept", tc.n)
		}
		if f[0] != 0x82 || f[1] != 0x80|tc.lenBits {
			t.Fatalf("%d bytes: header % x, want 82 %x", tc.n, f[:2], 0x80|tc.lenBits)
		}
		var n uint64
		switch tc.ext {
		case 0:
			n = uint64(f[1] & 0x7f)
		case 2:
			n = uint64(binary.BigEndian.Uint16(f[2:]))
		case 8:
			n = binary.BigEndian.Uint64(f[2:])
		}
		if n != uint64(tc.n) {
			t.Fatalf("%d bytes: length field says %d", tc.n, n)
		}
		key, body := f[2+tc.ext:6+tc.ext], f[6+tc.ext:]
		if len(body) != tc.n {
			t.Fatalf("%d bytes: %d bytes of payload follow the key", tc.n, len(body))
		}
		for i := range body {
			body[i] ^= key[i%4]
		}
		if !bytes.Equal(body, p) {
			t.Fatalf("%d bytes: the payload does not unmask to what was given", tc.n)
		}
	}
}

// The masking key is random: two frames of the same payload differ.
func TestAppendClientKeysDiffer(t *testing.T) {
	t.Parallel()
	p := []byte("the same payload")
	a, b := wsframe.AppendClient(nil, 0x81, p), wsframe.AppendClient(nil, 0x81, p)
	if bytes.Equal(a[2:6], b[2:6]) {
		t.Fatalf("two frames share the masking key % x", a[2:6])
	}
}

// ReadServer reads each length form and leaves what follows the frame
// unread.
func TestReadServer(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ n, ext int }{{0, 0}, {125, 0}, {5, 2}, {65535, 2}, {5, 8}, {70000, 8}} {
		p := bytes.Repeat([]byte{7}, tc.n)
		r := bytes.NewReader(append(serverFrame(0x01, p, tc.ext), "next"...))
		b0, got, err := wsframe.ReadServer(r, 1<<20)
		if err != nil || b0 != 0x01 || !bytes.Equal(got, p) {
			t.Fatalf("%d bytes (%d of length): %#x, %d bytes, %v", tc.n, tc.ext, b0, len(got), err)
		}
		if rest, _ := io.ReadAll(r); string(rest) != "next" {
			t.Fatalf("%d bytes (%d of length): %q left after the frame, want \"next\"", tc.n, tc.ext, rest)
		}
	}
}

// A masked frame and one over the limit are refused before their payload
// is read; an end of stream before a frame is io.EOF, within one
// io.ErrUnexpectedEOF.
func TestReadServerErrors(t *testing.T) {
	t.Parallel()
	whole := serverFrame(0x82, []byte("hello"), 8)
	for _, tc := range []struct {
		name    string
		in      []byte
		want    string
		wantErr error
		unread  int // bytes the refusal must leave in the stream
	}{
		{"masked", []byte{0x81, 0x85, 1, 2, 3, 4, 'h', 'e', 'l', 'l', 'o'}, "the server masked a frame", nil, 9},
		{"over the limit", serverFrame(0x82, make([]byte, 11), 0), "a WebSocket frame of 11 bytes, over the limit of 10", nil, 11},
		{"empty stream", nil, "reading a WebSocket frame", io.EOF, 0},
		{"one byte", whole[:1], "reading a WebSocket frame", io.ErrUnexpectedEOF, 0},
		{"cut in the length", whole[:5], "frame's length", io.ErrUnexpectedEOF, 0},
		{"cut at the payload", whole[:10], "frame's payload", io.ErrUnexpectedEOF, 0},
		{"cut in the payload", whole[:12], "frame's payload", io.ErrUnexpectedEOF, 0},
	} {
		r := bytes.NewReader(tc.in)
		_, _, err := wsframe.ReadServer(r, 10)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error saying %q", tc.name, err, tc.want)
		}
		if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
			t.Errorf("%s: %v is not %v", tc.name, err, tc.wantErr)
		}
		if tc.wantErr == nil && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)) {
			t.Errorf("%s: %v reads as an end of stream", tc.name, err)
		}
		if r.Len() != tc.unread {
			t.Errorf("%s: %d bytes left unread, want %d", tc.name, r.Len(), tc.unread)
		}
	}
}

// The package and the switchyard command, which builds its chat's frames
// with it, link no testing code.
func TestLinksNoTesting(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list; skipped in -short mode")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command on PATH")
	}
	for _, pkg := range []string{".", "../../cmd/switchyard"} {
		out, err := exec.Command("go", "list", "-deps", pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
		}
		for dep := range strings.FieldsSeq(string(out)) {
			if dep == "testing" || strings.HasSuffix(dep, "/internal/testkit") || strings.HasSuffix(dep, "/internal/wstest") {
				t.Errorf("%s links %s", pkg, dep)
			}
		}
	}
}

// The payload grows with the bytes that arrive, not with what the length
// field claims: a frame that claims 64 MiB and brings 1,000 bytes costs a
// little, however the bytes come. Not parallel: the allocation is
// measured for the process, and no parallel test runs while it does.
func TestReadServerGrowsWithData(t *testing.T) {
	const claimed = 64<<20 - 1
	frame := append(binary.BigEndian.AppendUint64([]byte{0x82, 127}, claimed), bytes.Repeat([]byte{7}, 1000)...)
	for _, tc := range []struct {
		name string
		r    func() io.Reader
	}{
		{"at once", func() io.Reader { return bytes.NewReader(frame) }},
		{"a byte at a time", func() io.Reader { return iotest.OneByteReader(bytes.NewReader(frame)) }},
	} {
		r := tc.r()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, _, err := wsframe.ReadServer(r, claimed)
		runtime.ReadMemStats(&after)
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("%s: %v, want the frame cut short (io.ErrUnexpectedEOF)", tc.name, err)
		}
		allocated := after.TotalAlloc - before.TotalAlloc
		t.Logf("%s: %d bytes allocated for a frame claiming %d that brought 1000", tc.name, allocated, claimed)
		if allocated > 1<<20 {
			t.Errorf("%s: %d bytes allocated for a frame claiming %d that brought 1000: the payload was sized by its claim", tc.name, allocated, claimed)
		}
	}
}

// A payload of many chunks arrives whole, in whatever pieces it comes.
func TestReadServerLargePayload(t *testing.T) {
	t.Parallel()
	p := make([]byte, 3<<20+5)
	for i := range p {
		p[i] = byte(i * 7)
	}
	for _, half := range []bool{false, true} {
		var r io.Reader = bytes.NewReader(append(serverFrame(0x02, p, 8), "next"...))
		if half {
			r = iotest.HalfReader(r)
		}
		b0, got, err := wsframe.ReadServer(r, 4<<20)
		if err != nil || b0 != 0x02 || !bytes.Equal(got, p) {
			t.Fatalf("half reads %v: %#x, %d bytes (equal %v), %v", half, b0, len(got), bytes.Equal(got, p), err)
		}
		if rest, _ := io.ReadAll(r); string(rest) != "next" {
			t.Fatalf("half reads %v: %q left after the frame, want \"next\"", half, rest)
		}
	}
}
