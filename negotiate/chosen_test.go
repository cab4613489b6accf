package negotiate_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/switchyard-http/switchyard/negotiate"
)

// unwrapper is a middleware's writer that unwraps to the negotiator's.
type unwrapper struct{ http.ResponseWriter }

func (w unwrapper) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func TestChosenInHandshake(t *testing.T) {
	t.Parallel()
	n := newNegotiator(t, nil)
	got := make(chan [2]string, 1)
	handshake := func(w http.ResponseWriter, r *http.Request) error {
		got <- [2]string{negotiate.Chosen(w), negotiate.Chosen(unwrapper{w})}
		negotiate.Refuse(w, r, negotiate.Refusal(http.StatusTeapot, "seen"))
		return nil
	}
	reg := newRegistry(t, map[string]negotiate.Protocol{
		"foo":   {Handshake: handshake},
		"bar/2": {Handshake: handshake},
	})
	srv := startServer(t, n.Endpoint(reg))
	for _, tc := range []struct{ offer, want string }{
		{"Foo/3", "Foo/3"},
		{"baz, bar/2", "bar/2"},
	} {
		resp, _, _, _ := raw(t, srv, upgradeReq("/", tc.offer))
		if resp.StatusCode != http.StatusTeapot {
			t.Fatalf("offer %q: status %d, want %d", tc.offer, resp.StatusCode, http.StatusTeapot)
		}
		if g := <-got; g[0] != tc.want || g[1] != tc.want {
			t.Errorf("offer %q: Chosen = %q (wrapped %q), want %q", tc.offer, g[0], g[1], tc.want)
		}
	}
	if c := negotiate.Chosen(httptest.NewRecorder()); c != "" {
		t.Errorf("Chosen outside a Handshake = %q, want empty", c)
	}
}
