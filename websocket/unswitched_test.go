package websocket_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/switchyard-http/switchyard/internal/testkit"
	"github.com/switchyard-http/switchyard/negotiate"
	"github.com/switchyard-http/switchyard/websocket"
)

// noUnwrap hides the ResponseWriter's Hijack: the switch cannot be made.
type noUnwrap struct{ http.ResponseWriter }

// A WebSocket upgrade whose switch is not made (here: a writer in front
// that cannot hijack, answered 500) does not run the handler: the client
// has its refusal. The serve func runs on the dead connection only to
// release what Accept took, and it ran the handler, which acted (a chat
// handler joined its room) until its first read failed.
func TestUnswitchedUpgradeRunsNoHandler(t *testing.T) {
	t.Parallel()
	called := make(chan struct{}, 1)
	p, err := websocket.New(nil, func(c *websocket.Conn) error {
		select {
		case called <- struct{}{}:
		default:
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	reg := new(negotiate.Registry)
	reg.Register("websocket", p)
	h := testkit.NewNegotiator(t, nil).Endpoint(reg)
	srv := testkit.StartServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(noUnwrap{w}, r)
	}))
	e := testkit.Raw(t, testkit.Addr(srv), testkit.UpgradeRequest("/", "websocket",
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13"))
	if e.Resp.StatusCode != http.StatusInternalServerError {
		t.Fatalf("status %d, want 500: the writer cannot hijack", e.Resp.StatusCode)
	}
	// The serve func of a switch not made runs right after the refusal,
	// on its own goroutine: it would have called the handler by now.
	select {
	case <-called:
		t.Error("the handler ran for an upgrade answered 500")
	case <-time.After(time.Second):
	}
}
