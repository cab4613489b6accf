package negotiate_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"

	"github.com/switchyard-http/switchyard/negotiate"
)

// A debug endpoint listing the live switched connections: Conns copies the
// set under a short lock and reads each connection's counters as it runs.
func ExampleNegotiator_Conns() {
	n, _ := negotiate.New(nil)
	reg := new(negotiate.Registry)
	reg.HandleFunc("echo/1", func(c *negotiate.Conn) error {
		_, err := io.Copy(c, c)
		return err
	})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /debug/conns", func(w http.ResponseWriter, r *http.Request) {
		type row struct {
			Name, Transport, Remote string
			In                      int64
		}
		rows := []row{}
		for _, c := range n.Conns() {
			// c.RemoteAddr and c.BytesOut on a real page: the example leaves
			// out BytesOut, which counts a write once it has returned, and
			// may not count yet the echo the client has read.
			rows = append(rows, row{c.Name, c.Transport, "…", c.BytesIn})
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(rows)
	})
	srv := httptest.NewServer(n.Middleware(reg)(mux))
	defer srv.Close()
	defer n.Shutdown(context.Background())

	conn, _, err := negotiate.Dial(context.Background(), srv.URL, []string{"echo/1"}, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprint(conn, "hello")
	io.ReadFull(conn, make([]byte, 5))

	resp, err := http.Get(srv.URL + "/debug/conns")
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	io.Copy(os.Stdout, resp.Body)
	// Output:
	// [{"Name":"echo","Transport":"http/1.1","Remote":"…","In":5}]
}

// OnSwitch, OnClose and OnRefuse are enough to count every upgrade
// request's outcome, as the metrics package does: the protocol's
// registered name, the status of a refusal, how a connection ended.
func ExampleOptions_hooks() {
	n, _ := negotiate.New(&negotiate.Options{
		OnSwitch: func(c negotiate.ConnInfo) { fmt.Println("switched", c.Name, c.Transport) },
		OnClose:  func(c negotiate.ConnInfo) { fmt.Println("closed", c.Name, c.CloseReason) },
		OnRefuse: func(r negotiate.RefusalInfo) { fmt.Printf("refused %q %d failed=%v\n", r.Name, r.Status, r.Failed) },
	})
	reg := new(negotiate.Registry)
	reg.HandleFunc("echo/1", func(c *negotiate.Conn) error { return nil })
	srv := httptest.NewServer(n.Endpoint(reg))
	defer srv.Close()

	conn, _, err := negotiate.Dial(context.Background(), srv.URL, []string{"echo/1"}, nil)
	if err != nil {
		log.Fatal(err)
	}
	io.Copy(io.Discard, conn) // the protocol returns at once: the server ends the stream
	conn.Close()
	n.Shutdown(context.Background()) // waits for the close, and its hook

	_, _, err = negotiate.Dial(context.Background(), srv.URL, []string{"nope/9"}, nil)
	fmt.Println(err != nil) // nope/9 is registered nowhere: a 426 of no protocol
	// Output:
	// switched echo http/1.1
	// closed echo normal
	// refused "" 426 failed=false
	// true
}
