package websocket_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	gws "github.com/gorilla/websocket"

	"github.com/switchyard-http/switchyard/negotiate"
	"github.com/switchyard-http/switchyard/websocket"
)

// An echo endpoint at /ws, and a gorilla client that talks to it over
// loopback.
func Example() {
	n, _ := negotiate.New(nil) // nil options cannot fail
	p, err := websocket.New(&websocket.Options{Subprotocols: []string{"echo.v1"}}, func(c *websocket.Conn) error {
		for {
			typ, msg, err := c.ReadMessage()
			if err != nil {
				return err // the peer's close, or the shutdown's
			}
			if err := c.WriteMessage(typ, msg); err != nil {
				return err
			}
		}
	})
	if err != nil {
		log.Fatal(err)
	}
	reg := new(negotiate.Registry)
	reg.Register("websocket", p)
	mux := http.NewServeMux()
	mux.Handle("/ws", n.Endpoint(reg))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	d := gws.Dialer{Subprotocols: []string{"other", "echo.v1"}}
	c, resp, err := d.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/ws", nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	fmt.Println(resp.Status, "with subprotocol", c.Subprotocol())
	if err := c.WriteMessage(gws.TextMessage, []byte("hello")); err != nil {
		log.Fatal(err)
	}
	_, msg, err := c.ReadMessage()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("echo: %s\n", msg)

	// Shutting down sends every WebSocket a close frame 1001; gorilla's
	// client answers it, which ends the handler's read.
	done := make(chan error)
	go func() { done <- n.Shutdown(context.Background()) }()
	_, _, err = c.ReadMessage()
	fmt.Println("client read:", err)
	fmt.Println("shutdown:", <-done)
	// Output:
	// 101 Switching Protocols with subprotocol echo.v1
	// echo: hello
	// client read: websocket: close 1001 (going away): server shutting down
	// shutdown: <nil>
}

// Options for a browser-facing endpoint: a page on another origin, bigger
// messages, compression, and a keep-alive that keeps the default 30s
// between pings but gives a peer only 10s to answer one. The handler reads
// the upgrade request through Conn.Request.
func ExampleNew() {
	p, err := websocket.New(&websocket.Options{
		OriginPatterns:    []string{"app.example.com", "*.staging.example.com"},
		Subprotocols:      []string{"chat.v2", "chat.v1"},
		EnableCompression: true,
		ReadLimit:         16 << 20,
		PongTimeout:       10 * time.Second,
	}, func(c *websocket.Conn) error {
		name := c.Request().URL.Query().Get("name")
		if err := c.WriteMessage(gws.TextMessage, []byte("hello, "+name)); err != nil {
			return err
		}
		for {
			if _, _, err := c.ReadMessage(); err != nil {
				return err // the peer's pongs arrive inside reads
			}
		}
	})
	if err != nil {
		log.Fatal(err)
	}
	reg := new(negotiate.Registry)
	reg.Register("websocket", p)
	_ = reg // mount it with a negotiator's Endpoint or Middleware
}

// A handler with a writer of its own: a ticker that pushes to the client
// while the handler reads. Conn.Context ends at shutdown (or when the
// connection closes), which stops the ticker; the handler's read returns
// the peer's answer to the server's 1001.
func ExampleConn_Context() {
	p, err := websocket.New(nil, func(c *websocket.Conn) error {
		go func() {
			t := time.NewTicker(time.Second)
			defer t.Stop()
			for {
				select {
				case <-c.Context().Done():
					return
				case now := <-t.C:
					// The one writer; the package's own close frames use
					// WriteControl, which may run alongside it.
					if c.WriteMessage(gws.TextMessage, []byte(now.Format(time.TimeOnly))) != nil {
						return
					}
				}
			}
		}()
		for {
			if _, _, err := c.ReadMessage(); err != nil {
				return err
			}
		}
	})
	if err != nil {
		log.Fatal(err)
	}
	reg := new(negotiate.Registry)
	reg.Register("websocket", p)
}

// Tied to an http.Server, the negotiator's shutdown closes every WebSocket
// with 1001 when the server shuts down.
func ExampleNew_shutdown() {
	n, err := negotiate.New(&negotiate.Options{ShutdownTimeout: 10 * time.Second})
	if err != nil {
		log.Fatal(err)
	}
	p, err := websocket.New(&websocket.Options{CloseTimeout: 3 * time.Second}, func(c *websocket.Conn) error {
		for {
			if _, _, err := c.ReadMessage(); err != nil {
				return err // the peer's answer to 1001 ends the handler
			}
		}
	})
	if err != nil {
		log.Fatal(err)
	}
	reg := new(negotiate.Registry)
	reg.Register("websocket", p)
	srv := &http.Server{Addr: "127.0.0.1:8080", Handler: n.Endpoint(reg), ReadHeaderTimeout: 10 * time.Second}
	n.RegisterOnShutdown(srv)
	_ = srv // srv.ListenAndServe(); later srv.Shutdown(ctx), then n.Shutdown(ctx) to wait
}
