package switchyard_test

// The server's side of RFC 8441 (extended CONNECT), requirement by
// requirement, for what no other test held: requests in raw HTTP/2 frames,
// which a client library would not send, over TLS and over prior-knowledge
// h2c, in a child process with extended CONNECT on.

import (
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	gws "github.com/gorilla/websocket"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/switchyard-http/switchyard/internal/testkit"
	"github.com/switchyard-http/switchyard/internal/wstest"
)

// rawH2 is an HTTP/2 connection a test writes frames on by hand.
type rawH2 struct {
	t   *testing.T
	c   net.Conn
	fr  *http2.Framer
	hb  bytes.Buffer
	enc *hpack.Encoder
}

// dialRawH2 opens an HTTP/2 connection to s (TLS with ALPN h2, or h2c with
// prior knowledge), sends the preface and empty SETTINGS, and reads the
// server's SETTINGS, which must enable extended CONNECT.
func dialRawH2(t *testing.T, s *xServer, useTLS bool) *rawH2 {
	t.Helper()
	var c net.Conn
	if useTLS {
		cfg := s.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
		cfg.NextProtos = []string{"h2"}
		tc, err := tls.DialWithDialer(&net.Dialer{Timeout: testkit.Timeout}, "tcp", testkit.Addr(s.Server), cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { tc.Close() })
		c = tc
	} else {
		c = testkit.DialTCP(t, testkit.Addr(s.Server))
	}
	_ = c.SetDeadline(time.Now().Add(testkit.Timeout))
	h := &rawH2{t: t, c: c, fr: http2.NewFramer(c, c)}
	h.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	h.enc = hpack.NewEncoder(&h.hb)
	if _, err := io.WriteString(c, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	if err := h.fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	for {
		f, err := h.fr.ReadFrame()
		if err != nil {
			t.Fatalf("waiting for the server's SETTINGS: %v", err)
		}
		if sf, ok := f.(*http2.SettingsFrame); ok && !sf.IsAck() {
			if v, ok := sf.Value(http2.SettingEnableConnectProtocol); !ok || v != 1 {
				t.Fatal("the server's SETTINGS do not enable extended CONNECT")
			}
			if err := h.fr.WriteSettingsAck(); err != nil {
				t.Fatal(err)
			}
			return h
		}
	}
}

// request opens stream id with the given fields (name, value pairs, in
// order), leaving the stream open.
func (h *rawH2) request(id uint32, fields ...string) {
	h.t.Helper()
	h.hb.Reset()
	for i := 0; i+1 < len(fields); i += 2 {
		_ = h.enc.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]})
	}
	if err := h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: h.hb.Bytes(), EndHeaders: true}); err != nil {
		h.t.Fatal(err)
	}
}

// response reads stream id's response head and returns its status and
// fields; for a status other than 200, the body, to the stream's end.
func (h *rawH2) response(id uint32) (status string, fields []hpack.HeaderField, body string) {
	h.t.Helper()
	var b strings.Builder
	for {
		f, err := h.fr.ReadFrame()
		if err != nil {
			h.t.Fatalf("stream %d: %v", id, err)
		}
		if f.Header().StreamID != id {
			continue
		}
		switch f := f.(type) {
		case *http2.MetaHeadersFrame:
			status, fields = f.PseudoValue("status"), f.RegularFields()
			if status == "200" || f.StreamEnded() {
				return status, fields, ""
			}
		case *http2.DataFrame:
			b.Write(f.Data())
			if f.StreamEnded() {
				return status, fields, b.String()
			}
		case *http2.RSTStreamFrame:
			h.t.Fatalf("stream %d reset: %v", id, f.ErrCode)
		}
	}
}

// A WebSocket over HTTP/2 carries RFC 6455's Host in :authority, "which is
// required on every HTTP/2 transaction" (RFC 8441 §5), and a handshake
// without the Host information is refused (RFC 6455 §4.2.1: 400): Go's
// HTTP/2 server passes an extended CONNECT without :authority on, with an
// empty Host. The same request with :authority switches.
func TestWebSocketOverH2NeedsAuthority(t *testing.T) {
	testkit.EachXConnect(t, func(t *testing.T, useTLS bool) {
		s := newXServer(t, nil, useTLS)
		h := dialRawH2(t, s, useTLS)
		scheme := "http"
		if useTLS {
			scheme = "https"
		}
		common := []string{":method", "CONNECT", ":protocol", "websocket", ":scheme", scheme, ":path", "/ws"}
		h.request(1, append(common, "sec-websocket-version", "13")...)
		status, _, body := h.response(1)
		if status != "400" || !strings.Contains(body, ":authority") || strings.Count(body, "\n") != 1 {
			t.Errorf("no :authority: %s %q, want 400 with a reason that names :authority", status, body)
		}
		h.request(3, append(common, ":authority", "example.com", "sec-websocket-version", "13")...)
		if status, _, body := h.response(3); status != "200" {
			t.Errorf("with :authority: %s %q, want 200", status, body)
		}
		if st := s.n.Stats(); st.Refused != 1 || st.OverH2["websocket"] != 1 {
			t.Errorf("stats %+v, want one refusal and one WebSocket over HTTP/2", st)
		}
	})
}

// The stream stands for the TCP connection (RFC 8441 §5): END_STREAM is
// an orderly close (a FIN), RST_STREAM an abort (a TCP reset). A protocol
// sees the client's reset as an error, not as the end of its input: the
// echo's read fails, and a WebSocket whose stream is reset mid-connection
// ends with an error, not as closed normally; the client's END_STREAM
// ends the echo cleanly.
func TestStreamResetIsNotAnEnd(t *testing.T) {
	eachTransport(t, nil, func(t *testing.T, s *xServer) {
		st, _, err := s.dial(t, "/", "echo/1", nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := testkit.RoundTrip(t, st, "before the reset"); got != "before the reset" {
			t.Fatalf("echo %q", got)
		}
		st.Close() // RST_STREAM (CANCEL)
		if info := s.infos.Next(t); info.Name != "echo" || info.Err == nil {
			t.Errorf("echo reset by its client: OnClose %+v, want an error", info)
		}

		c, _ := wstest.Dial(t, s.client.WebSocketDialer(), s.wsURL("/ws"), nil)
		wstest.WantEcho(t, c, gws.TextMessage, []byte("before the reset"))
		c.NetConn().Close() // RST_STREAM (CANCEL), no close frame
		if info := s.infos.Next(t); info.Name != "websocket" || info.Err == nil {
			t.Errorf("WebSocket reset by its client: OnClose %+v, want an error", info)
		}

		st, _, err = s.dial(t, "/", "echo/1", nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.CloseWrite(); err != nil { // END_STREAM
			t.Fatal(err)
		}
		if rest := testkit.ReadAll(t, st); rest != "" {
			t.Errorf("after END_STREAM: %q, want the end", rest)
		}
		if info := s.infos.Next(t); info.Name != "echo" || info.Err != nil {
			t.Errorf("echo ended by END_STREAM: OnClose %+v, want no error", info)
		}
	})
}
