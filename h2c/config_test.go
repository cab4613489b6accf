package h2c_test

import (
	"bufio"
	"io"
	"net/http"
	"testing"

	"golang.org/x/net/http2"

	"github.com/switchyard-http/switchyard/h2c"
	"github.com/switchyard-http/switchyard/internal/h2ctest"
)

// TestHTTP2Options: Options.HTTP2 reaches the upgraded connections, on Go
// 1.26 (x/net serves them) as on Go 1.27 (net/http does): the server's
// first SETTINGS frame carries the configured stream limit.
func TestHTTP2Options(t *testing.T) {
	t.Parallel()
	s := serve(t, &h2c.Options{HTTP2: &http.HTTP2Config{MaxConcurrentStreams: 7}})
	c := dialRaw(t, s.srv)
	if _, err := io.WriteString(c, h2ctest.RequestHead("GET", "/", "x")+"\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d, want 101", resp.StatusCode)
	}
	if _, err := io.WriteString(c, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(c, br)
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	f, err := fr.ReadFrame()
	if err != nil {
		t.Fatal(err)
	}
	sf, ok := f.(*http2.SettingsFrame)
	if !ok || sf.IsAck() {
		t.Fatalf("first frame %v, want the server's SETTINGS", f)
	}
	got, ok := sf.Value(http2.SettingMaxConcurrentStreams)
	if want := uint32(7); !ok || got != want {
		t.Errorf("server's MAX_CONCURRENT_STREAMS = %d (sent: %v), want %d", got, ok, want)
	}
}
