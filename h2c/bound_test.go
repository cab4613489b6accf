package h2c_test

import (
	"bytes"
	"fmt"
	"io"
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
