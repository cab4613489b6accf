package wstest_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"

	gws "github.com/gorilla/websocket"

	"github.com/switchyard-http/switchyard/internal/testkit"
	"github.com/switchyard-http/switchyard/internal/wstest"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// ClientFrame's frames, written raw to gorilla's server over loopback, are
// read as the messages they carry, in every length form, and ReadFrame
// reads gorilla's answers, each one frame, whole.
func TestFramesRoundTripThroughGorilla(t *testing.T) {
	t.Parallel()
	srv := testkit.StartServer(t, wstest.GorillaEcho(&gws.Upgrader{WriteBufferSize: 1 << 17})) // every answer in one frame
	x := testkit.Raw(t, testkit.Addr(srv), testkit.UpgradeRequest("/", "websocket",
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13"))
	if x.Resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake: %d", x.Resp.StatusCode)
	}
	for _, n := range []int{0, 125, 126, 1<<16 - 1, 1 << 16} {
		for _, b0 := range []byte{0x81, 0x82} {
			msg := []byte(strings.Repeat("é", n/2) + strings.Repeat("a", n%2))
			if _, err := x.Write(wstest.ClientFrame(b0, msg)); err != nil {
				t.Fatal(err)
			}
			got0, got, err := wstest.ReadFrame(x)
			if err != nil {
				t.Fatalf("%d bytes, first byte %#x: %v", n, b0, err)
			}
			if got0 != b0 || !bytes.Equal(got, msg) {
				t.Fatalf("%d bytes, first byte %#x: echoed %#x with %d bytes (equal %v)", n, b0, got0, len(got), bytes.Equal(got, msg))
			}
		}
	}
}

// ReadFrame refuses what a server must not send and a frame cut short.
func TestReadFrameRefuses(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		frame []byte
		want  string
	}{
		{"masked", wstest.ClientFrame(0x81, []byte("hi")), "masked"},
		{"over MaxFrame", []byte{0x82, 127, 0, 0, 0, 0, 0x04, 0, 0, 1}, "over"},
		{"cut in the head", []byte{0x81}, "reading a WebSocket frame"},
		{"cut in the length", []byte{0x81, 126, 1}, "length"},
		{"cut in the payload", []byte{0x81, 5, 'h', 'i'}, "payload"},
	} {
		if _, _, err := wstest.ReadFrame(bytes.NewReader(tc.frame)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error about %q", tc.name, err, tc.want)
		}
	}
}
