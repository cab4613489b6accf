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

// h2c upgrades on any path of an application; its streams are served by
// the application's own mux.
func Example() {
	n, _ := negotiate.New(nil)
	p, err := h2c.New(nil)
	if err != nil {
		log.Fatal(err)
	}
	reg := new(negotiate.Registry)
	reg.Register("h2c", p)

	mux := http.NewServeMux()
	mux.HandleFunc("/proto", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.Proto) })
	srv := httptest.NewUnstartedServer(n.Middleware(reg)(mux))
	h2c.ConfigureServer(srv.Config) // prior knowledge as well
	srv.Start()
	defer srv.Close()
	defer n.Shutdown(context.Background())

	conn, _ := net.Dial("tcp", srv.Listener.Addr().String())
	defer conn.Close()
	client, stream1, err := h2ctest.Upgrade(conn, h2ctest.RequestHead("GET", "/proto", "example"), nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(client.Upgrade.Status)
	fmt.Println(string(stream1.Body))
	// Output:
	// 101 Switching Protocols
	// HTTP/2.0
}
