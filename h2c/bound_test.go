package h2c_test

import (
	"bytes"
	"fmt"
	"io"
	"runtime"
	"testing"

	"github.com/switchyard-http/switchyard/internal/h2ctest"
)

// With the default options an upgrade body of exactly 1 MiB is upgraded
// and replayed as stream 1's body; one byte more is served as HTTP/1.1.
func TestDefaultBodyBoundIsOneMiB(t *testing.T) {
	t.Parallel()
	s := serve(t, nil)
	for _, size := range []int{1 << 20, 1<<20 + 1} {
		body := bytes.Repeat([]byte("b"), size)
		head := h2ctest.RequestHead("POST", "/bound", "x", fmt.Sprintf("Content-Length: %d", size))
		c, first, err := h2ctest.Upgrade(dialRaw(t, s.srv), head, body)
		if err != nil {
			t.Fatalf("%d bytes: %v", size, err)
		}
		if size == 1<<20 {
			if want := fmt.Sprintf("HTTP/2.0 2 %d %s /bound hop=[]", size, digest(body)); first == nil || string(first.Body) != want {
				t.Errorf("a body of 1 MiB: stream 1 = %v, want %q", first, want)
			}
			continue
		}
		if first != nil {
			t.Fatalf("a body of 1 MiB + 1 byte was upgraded")
		}
		got, _ := io.ReadAll(c.Upgrade.Body)
		if want := fmt.Sprintf("HTTP/1.1 1 %d %s /bound hop=", size, digest(body)); !bytes.HasPrefix(got, []byte(want)) {
			t.Errorf("a body of 1 MiB + 1 byte: served as %q, want %q…", got, want)
		}
	}
}

// Once stream 1 has had it, the upgrade body is not held for the rest of
// the connection's life: the upgrade request, which the switched
// connection keeps, let its replay go. A client could otherwise make
// every idle upgraded connection hold MaxBodyBytes (1 MiB each: 1 GiB for
// a thousand connections). Sixteen idle connections, each upgraded with a
// 1 MiB body that stream 1 read whole, must hold well under a quarter of
// their bodies (they held all of them before: 16.3 MiB).
func TestIdleConnectionHoldsNoBody(t *testing.T) {
	// Not parallel: the heap is the process's.
	s := serve(t, nil)
	const conns, size = 16, 1 << 20
	before := liveHeap()
	for range conns {
		body := bytes.Repeat([]byte("b"), size)
		head := h2ctest.RequestHead("POST", "/", "x", fmt.Sprintf("Content-Length: %d", size))
		c, first, err := h2ctest.Upgrade(dialRaw(t, s.srv), head, body)
		if err != nil || first == nil || first.Status != 200 {
			t.Fatalf("upgrade: %+v %v", first, err)
		}
		t.Cleanup(func() { c.Conn.Close() })
	}
	if held := int64(liveHeap()) - int64(before); held > conns*size/4 {
		t.Errorf("%d idle upgraded connections hold %d bytes more than none, want at most %d: their upgrade bodies are kept", conns, held, conns*size/4)
	}
}

// liveHeap is the heap's live bytes after a full collection.
func liveHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
