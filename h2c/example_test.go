package h2c_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"

	"github.com/switchyard-http/switchyard/h2c"
	"github.com/switchyard-http/switchyard/internal/h2ctest"
	"github.com/switchyard-http/switchyard/negotiate"
)

// h2c upgrades on any path of an application; its streams, stream 1 (the
// upgrade request) and those that follow, are served by the server's own
// handler, the application's mux behind the negotiator.
func Example() {
	n, err := negotiate.New(nil)
	if err != nil {
		log.Fatal(err)
	}
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
	h2c.ConfigureServer(srv.Config) // prior knowledge as well
	srv.Start()
	defer srv.Close()
	defer n.Shutdown(context.Background())

	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	client, stream1, err := h2ctest.Upgrade(conn, h2ctest.RequestHead("GET", "/proto", "example"), nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(client.Upgrade.Status)
	fmt.Println(string(stream1.Body))
	stream3, err := client.Get("/hello")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(stream3.Body))
	// Output:
	// 101 Switching Protocols
	// HTTP/2.0
	// hello over HTTP/2.0
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

	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	client, _, err := h2ctest.Upgrade(conn, h2ctest.RequestHead("GET", "/", "example"), nil)
	if err != nil {
		log.Fatal(err)
	}
	done := make(chan error)
	go func() { done <- n.Shutdown(context.Background()) }()
	goAway, err := client.WaitGoAway()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("GOAWAY", goAway.ErrCode)
	conn.Close() // the client is done too
	fmt.Println("shutdown:", <-done)
	// Output:
	// GOAWAY NO_ERROR
	// shutdown: <nil>
}
