package echoadapter_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	gws "github.com/gorilla/websocket"

	"github.com/labstack/echo/v5"
	"github.com/labstack/echo/v5/middleware"

	"github.com/switchyard-http/switchyard/echoadapter/v5"
	"github.com/switchyard-http/switchyard/negotiate"
	"github.com/switchyard-http/switchyard/websocket"
)

// The middleware switches on every route: here echo/1, a custom protocol
// that writes back every byte. Plain requests go on to Echo's routes.
func ExampleMiddleware() {
	n, _ := negotiate.New(nil) // nil options cannot fail
	reg := new(negotiate.Registry)
	reg.HandleFunc("echo/1", func(c *negotiate.Conn) error {
		_, err := io.Copy(c, c)
		return err
	})
	e := echo.New()
	e.Use(echoadapter.Middleware(n, reg))
	e.GET("/hello", func(c *echo.Context) error { return c.String(http.StatusOK, "plain hello") })

	srv := httptest.NewServer(e)
	defer srv.Close()
	defer n.Shutdown(context.Background())

	conn, resp, err := negotiate.Dial(context.Background(), srv.URL+"/hello", []string{"echo/1"}, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Println(resp.Status, "to", resp.Header.Get("Upgrade"))
	fmt.Fprint(conn, "hello")
	buf := make([]byte, 5)
	if _, err := io.ReadFull(conn, buf); err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(buf))
	// Output:
	// 101 Switching Protocols to echo/1
	// hello
}

// A route that requires an upgrade answers anything else with 426, naming
// the protocols it would switch to.
func ExampleHandler() {
	n, _ := negotiate.New(nil) // nil options cannot fail
	reg := new(negotiate.Registry)
	reg.HandleFunc("chat/1", func(c *negotiate.Conn) error { return nil })
	e := echo.New()
	e.GET("/chat", echoadapter.Handler(n, reg))

	srv := httptest.NewServer(e)
	defer srv.Close()
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(srv.URL + "/chat")
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	fmt.Println(resp.Status)
	fmt.Println("Upgrade:", resp.Header.Get("Upgrade"))
	// Output:
	// 426 Upgrade Required
	// Upgrade: chat/1
}

// ToMiddleware validates the config and returns its error, where
// MiddlewareWithConfig would panic. The Skipper leaves some requests to
// the next handler without looking at their Upgrade header.
func ExampleConfig_ToMiddleware() {
	_, err := echoadapter.Config{}.ToMiddleware()
	fmt.Println(err)

	n, _ := negotiate.New(nil) // nil options cannot fail
	mw, err := echoadapter.Config{
		Negotiator: n,
		Registry:   new(negotiate.Registry),
		Skipper:    func(c *echo.Context) bool { return c.Path() == "/metrics" },
	}.ToMiddleware()
	fmt.Println(mw != nil, err)
	// Output:
	// echoadapter: Config needs a Negotiator and a Registry
	// true <nil>
}

// Tied to the server that serves Echo, the negotiator's shutdown starts
// with the server's: it cancels each switched connection's Context, and
// the protocol ends the connection its own way (here: it stops reading and
// returns); n.Shutdown waits for them.
func Example_shutdown() {
	n, _ := negotiate.New(nil) // nil options cannot fail
	reg := new(negotiate.Registry)
	reg.HandleFunc("echo/1", func(c *negotiate.Conn) error {
		ctx := c.Context()
		stop := context.AfterFunc(ctx, func() { c.SetReadDeadline(time.Now()) })
		defer stop()
		_, err := io.Copy(c, c)
		if ctx.Err() != nil {
			return nil // shut down
		}
		return err
	})
	e := echo.New()
	e.Use(middleware.Recover())
	e.Use(echoadapter.Middleware(n, reg))
	srv := &http.Server{Handler: e}
	n.RegisterOnShutdown(srv)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	conn, _, err := negotiate.Dial(context.Background(), "http://"+ln.Addr().String(), []string{"echo/1"}, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))

	if err := srv.Shutdown(context.Background()); err != nil {
		log.Fatal(err)
	}
	b, err := io.ReadAll(conn) // the end of the stream
	fmt.Printf("read %q, %v\n", b, err)
	conn.Close()
	if err := n.Shutdown(context.Background()); err != nil {
		log.Fatal(err)
	}
	fmt.Println(errors.Is(<-served, http.ErrServerClosed))
	fmt.Println("active:", n.Stats().Active["echo"])
	// Output:
	// read "", <nil>
	// true
	// active: 0
}

// A WebSocket route behind Echo's middleware: the negotiator writes the 101
// from c.Response()'s header, so the X-Request-Id that RequestID sets is
// sent with it.
func Example_webSocket() {
	n, _ := negotiate.New(nil) // nil options cannot fail
	greet, err := websocket.New(nil, func(c *websocket.Conn) error {
		return c.WriteMessage(gws.TextMessage, []byte("hello from behind Echo's middleware"))
	})
	if err != nil {
		log.Fatal(err)
	}
	reg := new(negotiate.Registry)
	reg.Register("websocket", greet)

	e := echo.New()
	e.Use(middleware.RequestIDWithConfig(middleware.RequestIDConfig{Generator: func() string { return "req-1" }}))
	e.Any("/ws", echoadapter.Handler(n, reg))

	srv := httptest.NewServer(e)
	defer srv.Close()
	defer n.Shutdown(context.Background())

	d := gws.Dialer{HandshakeTimeout: 10 * time.Second}
	c, resp, err := d.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/ws", nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	fmt.Println(resp.Status, "X-Request-Id:", resp.Header.Get("X-Request-Id"))
	_, msg, err := c.ReadMessage()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(msg))
	_, _, err = c.ReadMessage() // the handler returned: the server closes with 1000
	fmt.Println(err)
	// Output:
	// 101 Switching Protocols X-Request-Id: req-1
	// hello from behind Echo's middleware
	// websocket: close 1000 (normal)
}
