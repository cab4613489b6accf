package switchyard_test

import (
	"errors"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/switchyard-http/switchyard/h2c"
	"github.com/switchyard-http/switchyard/internal/h2ctest"
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
		testkit.ExpectBodyLimit(t, srv, useTLS, "/upload", map[string]string{"/upload": "echo/1", "/ws": "echo/2"})
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

// TestReadmeBodyLimitH2CUpgrade: behind the README's body limit, h2c in
// the Middleware reads an Upgrade: h2c request's body under its own bound
// and switches; stream 1 then carries the body to the app, which meets the
// limit there.
func TestReadmeBodyLimitH2CUpgrade(t *testing.T) {
	n := testkit.NewNegotiator(t, nil)
	p, err := h2c.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	reg := new(negotiate.Registry)
	reg.Register("h2c", p)
	app := http.NewServeMux()
	app.HandleFunc("/upload", func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if mbe := new(http.MaxBytesError); errors.As(err, &mbe) {
			http.Error(w, err.Error(), http.StatusRequestEntityTooLarge)
			return
		}
		_, _ = io.WriteString(w, strconv.Itoa(len(b)))
	})
	srv := testkit.StartServer(t, readmeBodyLimit(n, reg, new(negotiate.Registry), app, 1024))
	for _, size := range []int{512, 4096} {
		body := strings.Repeat("b", size)
		head := h2ctest.RequestHead(http.MethodPost, "/upload", "example.com", "Content-Length: "+strconv.Itoa(size))
		c, resp, err := h2ctest.Upgrade(testkit.DialTCP(t, testkit.Addr(srv)), head, []byte(body))
		if err != nil {
			t.Fatalf("h2c upgrade with a %d-byte body: %v", size, err)
		}
		if resp == nil {
			t.Fatalf("h2c upgrade with a %d-byte body answered %s, want a switch", size, c.Upgrade.Status)
		}
		want := http.StatusOK
		if size > 1024 {
			want = http.StatusRequestEntityTooLarge
		}
		if resp.Status != want {
			t.Errorf("stream 1 with a %d-byte body: %d %q, want %d", size, resp.Status, resp.Body, want)
		}
	}
}
