package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/switchyard-http/switchyard/internal/testkit"
)

// serverFrame is one unmasked frame, as a server writes it, of a payload
// under 126 bytes.
func serverFrame(b0 byte, payload string) string {
	return string([]byte{b0, byte(len(payload))}) + payload
}

// readClientFrame reads one masked frame, as a client writes it, and
// returns its opcode and unmasked payload.
func readClientFrame(r io.Reader) (byte, []byte, error) {
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, nil, err
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var ext [2]byte
		if _, err := io.ReadFull(r, ext[:]); err != nil {
			return 0, nil, err
		}
		n = uint64(binary.BigEndian.Uint16(ext[:]))
	case 127:
		var ext [8]byte
		if _, err := io.ReadFull(r, ext[:]); err != nil {
			return 0, nil, err
		}
		n = binary.BigEndian.Uint64(ext[:])
	}
	if h[1]&0x80 == 0 || n > 1<<20 {
		return 0, nil, fmt.Errorf("unmasked or oversized client frame (%d bytes)", n)
	}
	var mask [4]byte
	if _, err := io.ReadFull(r, mask[:]); err != nil {
		return 0, nil, err
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(r, p); err != nil {
		return 0, nil, err
	}
	for i := range p {
		p[i] ^= mask[i%4]
	}
	return h[0] & 0x0f, p, nil
}

var wsKeyField = regexp.MustCompile(`(?i)\r\nSec-WebSocket-Key: ([^\r]*)\r\n`)

// wsPeer answers a WebSocket upgrade with a valid 101 followed, in the
// same write, by frames, then reads the client's frames until it closes
// the connection and sends them on the channel, one "opcode payload"
// string each.
func wsPeer(t *testing.T, frames string) (string, <-chan []string) {
	t.Helper()
	got := make(chan []string, 1)
	srv := testkit.NewTCPServer(t, func(c net.Conn, head string) {
		if err := switchWS(c, head, frames); err != nil {
			got <- []string{err.Error()}
			return
		}
		var sent []string
		for {
			op, p, err := readClientFrame(c)
			if err != nil {
				got <- sent
				return
			}
			sent = append(sent, fmt.Sprintf("%#x %q", op, p))
		}
	})
	return srv.URL(), got
}

// switchWS answers the WebSocket upgrade request head with a valid 101
// followed, in the same write, by frames.
func switchWS(c net.Conn, head, frames string) error {
	m := wsKeyField.FindStringSubmatch(head)
	if m == nil {
		return errors.New("no Sec-WebSocket-Key in " + head)
	}
	_, err := io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "+acceptKey(m[1])+"\r\n\r\n"+frames)
	return err
}

// open is a standard input that ends when the test does: the chat's input
// stays open while the server talks.
func open(t *testing.T) io.Reader {
	r, w := io.Pipe()
	t.Cleanup(func() { w.Close() })
	return r
}

// The chat's reading of what a server sends, as doc.go says: each message
// a line, binary ones as their size, a message in fragments whole (control
// frames may come between its fragments, RFC 6455 §5.4), pings answered
// with their payload, and the server's close answered with its code.
func TestChatServerFrames(t *testing.T) {
	t.Parallel()
	url, got := wsPeer(t, serverFrame(0x89, "p1")+serverFrame(0x82, "\x00\x01\x02")+
		serverFrame(0x01, "he")+serverFrame(0x89, "p2")+serverFrame(0x80, "llo")+
		serverFrame(0x88, "\x03\xe9bye"))
	code, out, errOut := inspectFrom(t, open(t), "ws", url)
	if code != 0 || out != "<binary message, 3 bytes>\nhello\n" {
		t.Errorf("exit %d, stdout %q; want 0, the binary message's size and hello; stderr:\n%s", code, out, errOut)
	}
	testkit.Contains(t, "stderr", errOut, `closed by the server: 1001 (going away) "bye"`)
	want := []string{`0xa "p1"`, `0xa "p2"`, `0x8 "\x03\xe9bye"`}
	if sent := testkit.Receive(t, got, "the client's frames"); strings.Join(sent, ", ") != strings.Join(want, ", ") {
		t.Errorf("the client sent %q, want %q: two pongs, then the close echoed", sent, want)
	}
}

// The fragments of a message come one after the other (RFC 6455 §5.4): a
// new message before the last fragment of the one begun, or a continuation
// with no message begun, is a broken server, not text to print (audit: the
// chat printed "X" then "Xcd" for ab…, X, …cd, losing "ab").
func TestChatBrokenFragments(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, frames, says string }{
		{"a new message within one", serverFrame(0x01, "ab") + serverFrame(0x81, "X") + serverFrame(0x80, "cd"),
			"a new message began before the last fragment of the one before (RFC 6455 §5.4)"},
		{"a continuation first", serverFrame(0x80, "cd"),
			"a continuation frame with no message begun (RFC 6455 §5.4)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			url, _ := wsPeer(t, tc.frames)
			code, out, errOut := inspectFrom(t, open(t), "ws", url)
			if code != 2 || out != "" {
				t.Errorf("exit %d, stdout %q; want 2 and nothing", code, out)
			}
			testkit.Contains(t, "stderr", errOut, "switchyard ws: "+tc.says+"\n")
		})
	}
}

// The chat's "connected to" line does not show the URL's password: it is
// sent (as Basic authorization), not printed.
func TestChatHidesPassword(t *testing.T) {
	t.Parallel()
	url, _ := wsPeer(t, serverFrame(0x88, "\x03\xe8"))
	code, _, errOut := inspect(t, "", "ws", strings.Replace(url, "://", "://alice:s3cret@", 1))
	if code != 0 {
		t.Errorf("exit %d, want 0; stderr:\n%s", code, errOut)
	}
	testkit.Contains(t, "stderr", errOut, "connected to http://alice:xxxxx@")
	testkit.Lacks(t, "stderr", errOut, "s3cret")
}

// Standard input that fails is not the end of input: the chat and the pipe
// say so and exit 2, rather than close as if all had been sent, exit 0
// (audit: a read error, or a ws line over 64 MiB, passed for the end).
func TestInputFails(t *testing.T) {
	t.Parallel()
	failing := func() io.Reader {
		return io.MultiReader(strings.NewReader("hello\n"), iotest.ErrReader(errors.New("input/output error")))
	}
	g := gorillaServer(t)
	code, out, errOut := inspectFrom(t, failing(), "ws", g.URL)
	if code != 2 || out != "hello\n" {
		t.Errorf("ws: exit %d, stdout %q; want 2 and what was sent before the failure", code, out)
	}
	testkit.Contains(t, "ws stderr", errOut, "switchyard ws: standard input: input/output error\n")

	sy := switchyardServer(t, false)
	code, out, errOut = inspectFrom(t, failing(), "raw", "-offer", "echo/1", sy.URL)
	if code != 2 || out != "hello\n" {
		t.Errorf("raw: exit %d, stdout %q; want 2 and what was sent before the failure", code, out)
	}
	testkit.Contains(t, "raw stderr", errOut, "switchyard raw: standard input: input/output error\n")
}

// A frame's payload grows with the bytes that arrive, not with what its
// length field claims (audit: a server that answered the upgrade with a
// header claiming 64 MiB and sent nothing more had the chat allocate and
// hold the 64 MiB while it waited). The session ends as any frame cut
// short does. Not parallel: the allocation is measured for the process,
// and no parallel test runs while it does.
func TestChatFrameGrowsWithData(t *testing.T) {
	const claimed = maxMessage - 1
	frame := binary.BigEndian.AppendUint64([]byte{0x82, 127}, claimed)
	srv := testkit.NewTCPServer(t, func(c net.Conn, head string) {
		// The header and 1,000 bytes of the payload, then the end.
		_ = switchWS(c, head, string(frame)+strings.Repeat("x", 1000))
	})
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	code, out, errOut := inspectFrom(t, open(t), "ws", srv.URL())
	runtime.ReadMemStats(&after)
	if code != 2 || out != "" {
		t.Errorf("exit %d, stdout %q; want 2 and nothing", code, out)
	}
	testkit.Contains(t, "stderr", errOut, "switchyard ws: the connection closed without a close frame (1006, abnormal closure)\n")
	allocated := after.TotalAlloc - before.TotalAlloc
	t.Logf("a frame claiming %d bytes, 1000 sent: %d bytes allocated by the whole session", claimed, allocated)
	if allocated > 8<<20 {
		t.Errorf("the session allocated %d bytes for a frame that claimed %d and brought 1000: the payload was sized by its claim", allocated, claimed)
	}
}
