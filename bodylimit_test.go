package switchyard_test

import (
	"errors"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/switchyard-http/switchyard/internal/testkit"
	"github.com/switchyard-http/switchyard/negotiate"
)

// readmeBodyLimit is the README's "Body limits" handler: the app's routes
// behind http.MaxBytesHandler, the Endpoint's route beside them, and the
// negotiator's Middleware around both, so that what switches never meets
// the limit and everything else does.
func readmeBodyLimit(n *negotiate.Negotiator, reg, ws *negotiate.Registry, app http.Handler, limit int64) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/ws", n.Endpoint(ws)) // a stream's bytes are not a body
	mux.Handle("/", http.MaxBytesHandler(app, limit))
	return n.Middleware(reg)(mux) // switches before the limit
}

// TestReadmeBodyLimit: the README's body limit bounds every request that
// reaches the app, whatever it offers, and no switch. An HTTP/1.1 request
// offering a protocol nobody registered, and an HTTP/2 extended CONNECT
// naming one, go on to the app as ordinary requests, and any client can
// send either: the README's earlier handlers passed the first (every
// request negotiate.IsUpgrade is true for), then the second (every HTTP/2
// one), by the limit, and a handler that takes any method read a body of
// any size.
func TestReadmeBodyLimit(t *testing.T) {
	testkit.EachXConnect(t, func(t *testing.T, useTLS bool) {
		n := testkit.NewNegotiator(t, nil)
		reg := new(negotiate.Registry)
		reg.HandleFunc("echo/1", testkit.EchoConn)
		ws := new(negotiate.Registry)
		ws.HandleFunc("echo/2", testkit.EchoConn)
		app := http.NewServeMux()
		app.HandleFunc("/upload", func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodConnect {
				// A CONNECT's body comes after its answer.
				w.WriteHeader(http.StatusOK)
				_ = http.NewResponseController(w).Flush()
			}
			b, err := io.ReadAll(r.Body)
			if mbe := new(http.MaxBytesError); errors.As(err, &mbe) {
				http.Error(w, err.Error(), http.StatusRequestEntityTooLarge)
				return
			}
			_, _ = io.WriteString(w, strconv.Itoa(len(b)))
		})
		srv := testkit.StartH2Server(t, readmeBodyLimit(n, reg, ws, app, 1024), n, useTLS)
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
		c := testkit.XClient(t, srv, useTLS)
		// An extended CONNECT naming nothing registered is an ordinary
		// request to the app, and meets the limit.
		st, resp, err := testkit.XDial(t, c, srv.URL+"/upload", "not-registered", nil)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("extended CONNECT to the app: %v, %v; want the app's 200", resp, err)
		}
		small := body[:2048] // over the limit, within the stream's window
		if _, err := io.WriteString(st, small); err != nil {
			t.Fatal(err)
		}
		if err := st.CloseWrite(); err != nil {
			t.Fatal(err)
		}
		if got, _ := io.ReadAll(st); !strings.Contains(string(got), "too large") {
			t.Errorf("the app read a CONNECT's %d-byte body past the limit of 1024: %q", len(small), got)
		}
		// The streams that switch carry more than the limit: by the
		// Middleware, on any path, and at the Endpoint's route.
		for _, x := range []struct{ path, token string }{{"/upload", "echo/1"}, {"/ws", "echo/2"}} {
			st, resp, err := testkit.XDial(t, c, srv.URL+x.path, x.token, nil)
			if err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("extended CONNECT %s to %s: %v, %v; want 200", x.token, x.path, resp, err)
			}
			if got := testkit.RoundTrip(t, st, body); got != body {
				t.Errorf("%s's stream echoed %d of %d bytes", x.token, len(got), len(body))
			}
		}
	})
}

// TestReadmeBodyLimitIsTheOneTested: the README's "Body limits" block is
// the composition readmeBodyLimit tests, line for line.
func TestReadmeBodyLimitIsTheOneTested(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{
		`mux.Handle("/ws", n.Endpoint(ws)) // a stream's bytes are not a body`,
		`mux.Handle("/", http.MaxBytesHandler(app, 1<<20))`,
		`handler := n.Middleware(reg)(mux) // switches before the limit`,
	} {
		if !strings.Contains(string(readme), "\n  "+line+"\n") {
			t.Errorf("README.md's body limit lacks the tested line %q", line)
		}
	}
}
