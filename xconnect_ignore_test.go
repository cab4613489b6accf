package switchyard_test

import (
	"io"
	"net/http"
	"testing"

	"github.com/switchyard-http/switchyard/internal/testkit"
	"github.com/switchyard-http/switchyard/negotiate"
)

// An extended CONNECT whose offer every Check ignores (ErrIgnore) goes on
// as the request it is, a CONNECT, as one for a token the registry does
// not have: through the Middleware to the next handler, which must not
// answer it 2xx (the client would take its protocol to run), and at an
// Endpoint to the 426. ErrIgnore's doc said the request goes on as
// ordinary HTTP/1.1, and the HTTP/2 section named only unregistered
// tokens.
func TestXConnectIgnoredOffer(t *testing.T) {
	testkit.EachXConnect(t, func(t *testing.T, useTLS bool) {
		reg := new(negotiate.Registry)
		reg.Register("kv", negotiate.Protocol{
			Check: func(r *http.Request) error {
				if r.URL.Query().Get("v") == "old" {
					return negotiate.ErrIgnore
				}
				return nil
			},
			Accept: func(*negotiate.Switch) (func(*negotiate.Conn) error, error) {
				return func(*negotiate.Conn) error { return nil }, nil
			},
		})
		n := testkit.NewNegotiator(t, nil)
		next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Next-Saw", r.Method+" "+r.Header.Get(":protocol"))
			http.Error(w, "not here", http.StatusNotFound)
		})
		mux := http.NewServeMux()
		mux.Handle("/mw", n.Middleware(reg)(next))
		mux.Handle("/ep", n.Endpoint(reg))
		srv := testkit.StartH2Server(t, mux, n, useTLS)
		client := testkit.XClient(t, srv, useTLS)
		st, resp, err := testkit.XDial(t, client, srv.URL+"/mw?v=old", "kv", nil)
		if err == nil {
			_, _ = io.Copy(io.Discard, st)
			t.Fatalf("through the Middleware: switched (%s), want the next handler's 404", resp.Status)
		}
		if resp == nil || resp.StatusCode != http.StatusNotFound || resp.Header.Get("Next-Saw") != "CONNECT kv" {
			t.Errorf("through the Middleware: %v, %v; want the next handler's 404, having seen CONNECT kv", resp, err)
		}
		_, resp, err = testkit.XDial(t, client, srv.URL+"/ep?v=old", "kv", nil)
		if resp == nil || resp.StatusCode != http.StatusUpgradeRequired {
			t.Errorf("at an Endpoint: %v, %v; want 426", resp, err)
		}
	})
}
