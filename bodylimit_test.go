package switchyard_test

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/switchyard-http/switchyard/internal/testkit"
	"github.com/switchyard-http/switchyard/negotiate"
)

// readmeBodyLimit is the README's "Body limits" handler: mux behind
// http.MaxBytesHandler, except for the extended CONNECTs whose body is the
// stream.
func readmeBodyLimit(mux http.Handler, limit int64) http.Handler {
	limited := http.MaxBytesHandler(mux, limit)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor != 1 && negotiate.IsUpgrade(r) {
			mux.ServeHTTP(w, r) // a switch's bytes are not a body
			return
		}
		limited.ServeHTTP(w, r)
	})
}

// TestReadmeBodyLimitKeepsOffersOverHTTP1: the README's body limit in
// front of a mux still bounds an HTTP/1.1 request that offers a protocol
// nobody registered (any client may add Connection: Upgrade and Upgrade:
// x), which goes on to the mux as ordinary HTTP, while an extended
// CONNECT's stream passes by it. The README passed every request for which
// negotiate.IsUpgrade is true by the limit, and an upload handler read a
// body of any size.
func TestReadmeBodyLimitKeepsOffersOverHTTP1(t *testing.T) {
	testkit.EachXConnect(t, func(t *testing.T, useTLS bool) {
		n := testkit.NewNegotiator(t, nil)
		reg := new(negotiate.Registry)
		reg.HandleFunc("echo/1", testkit.EchoConn)
		mux := http.NewServeMux()
		mux.Handle("/echo", n.Endpoint(reg))
		mux.HandleFunc("POST /upload", func(w http.ResponseWriter, r *http.Request) {
			b, err := io.ReadAll(r.Body)
			if mbe := new(http.MaxBytesError); errors.As(err, &mbe) {
				http.Error(w, err.Error(), http.StatusRequestEntityTooLarge)
				return
			}
			_, _ = io.WriteString(w, strconv.Itoa(len(b)))
		})
		srv := testkit.StartH2Server(t, readmeBodyLimit(mux, 1024), n, useTLS)
		body := strings.Repeat("b", 64<<10)
		for _, h := range []http.Header{
			nil,
			{"Connection": {"Upgrade"}, "Upgrade": {"not-registered"}},
		} {
			if useTLS {
				break // the same HTTP/1.1 requests: the h2c server's are in clear
			}
			resp, got := testkit.Do(t, http.MethodPost, srv.URL+"/upload", h, strings.NewReader(body))
			if resp.StatusCode != http.StatusRequestEntityTooLarge {
				t.Errorf("POST of %d bytes with %v: %s %q, want 413 from the limit", len(body), h, resp.Status, got)
			}
		}
		// An extended CONNECT's stream is not a body: more than the
		// limit goes through it.
		st, resp, err := testkit.XDial(t, testkit.XClient(t, srv, useTLS), srv.URL+"/echo", "echo/1", nil)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("extended CONNECT: %v, %v; want 200", resp, err)
		}
		if got := testkit.RoundTrip(t, st, body); got != body {
			t.Errorf("the stream echoed %d of %d bytes", len(got), len(body))
		}
	})
}
