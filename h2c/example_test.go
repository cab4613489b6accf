package h2c_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/switchyard-http/switchyard/h2c"
	"github.com/switchyard-http/switchyard/internal/h2ctest"
	"github.com/switchyard-http/switchyard/negotiate"
)

// h2c upgrades on any path of an application; its streams, stream 1 (the
// upgrade request) and those that follow, are served by the server's own
// handler, the application's mux behind the negotiator. An upgraded
// connection takes the server's IdleTimeout, as prior-knowledge HTTP/2
// does (h2c.Options.IdleTimeout overrides it; with neither IdleTimeout
// nor ReadTimeout set, h2c.DefaultIdleTimeout applies).
func Example() {
	n, _ := negotiate.New(nil) // nil options cannot fail
	p, err := h2c.New(nil)
	if err != nil {
		log.Fatal(err)
	}
	reg := new(negotiate.Registry)
	reg.Register("h2c", p)

	mux := http.NewServeMux()
	mux.HandleFunc("/proto", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.Proto) })
	mux.HandleFunc("/hello", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello over "+r.Proto) })
	srv := httptest.NewUnstartedServer(n.Middleware(reg)(mux))
	h2c.ConfigureServer(srv.Config)                 // prior knowledge as well
	srv.Config.IdleTimeout = 100 * time.Millisecond // upgraded connections too, by default
	srv.Start()
	defer srv.Close()
	defer n.Shutdown(context.Background())

	client, stream1 := exampleUpgrade(srv, "/proto")
	defer client.Conn.Close()
	fmt.Println(client.Upgrade.Status)
	fmt.Println(string(stream1.Body))
	stream3, err := client.Get("/hello")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(stream3.Body))
	// No stream is open now: after the idle timeout the server says GOAWAY
	// and closes the connection.
	goAway, err := client.WaitGoAway()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("idle:", goAway.ErrCode)
	// Output:
	// 101 Switching Protocols
	// HTTP/2.0
	// hello over HTTP/2.0
	// idle: NO_ERROR
}

// exampleUpgrade is the client of the examples: it upgrades a new connection to
// srv with a GET of path and returns the client and stream 1's response.
// (Go's HTTP/2 transport does not upgrade; curl --http2 does.)
func exampleUpgrade(srv *httptest.Server, path string) (*h2ctest.Client, *h2ctest.Response) {
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		log.Fatal(err)
	}
	client, stream1, err := h2ctest.Upgrade(conn, h2ctest.RequestHead("GET", path, "example"), nil)
	if err != nil {
		log.Fatal(err)
	}
	return client, stream1
}

// On the negotiator's shutdown an upgraded connection gets GOAWAY, lets its
// streams finish and closes; the negotiator waits for it. Only the
// negotiator's own connections are touched.
func Example_shutdown() {
	n, _ := negotiate.New(nil)
	p, _ := h2c.New(nil)
	reg := new(negotiate.Registry)
	reg.Register("h2c", p)
	srv := httptest.NewServer(n.Middleware(reg)(http.NotFoundHandler()))
	defer srv.Close()

	client, _ := exampleUpgrade(srv, "/")
	defer client.Conn.Close()
	done := make(chan error)
	go func() { done <- n.Shutdown(context.Background()) }()
	goAway, err := client.WaitGoAway()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("GOAWAY", goAway.ErrCode)
	client.Conn.Close() // the client is done too
	fmt.Println("shutdown:", <-done)
	// Output:
	// GOAWAY NO_ERROR
	// shutdown: <nil>
}
