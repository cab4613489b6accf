package negotiate_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"

	"github.com/switchyard-http/switchyard/negotiate"
)

// A custom protocol is one call: echo/1 writes back every byte it reads.
func ExampleRegistry_HandleFunc() {
	n, err := negotiate.New(nil)
	if err != nil {
		log.Fatal(err)
	}
	reg := new(negotiate.Registry)
	err = reg.HandleFunc("echo/1", func(c *negotiate.Conn) error {
		_, err := io.Copy(c, c)
		return err
	})
	if err != nil {
		log.Fatal(err)
	}
	// Plain requests go on to the mux; upgrades to echo/1 switch.
	srv := httptest.NewServer(n.Middleware(reg)(http.NewServeMux()))
	defer srv.Close()
	defer n.Shutdown(context.Background())

	conn, resp, err := negotiate.Dial(context.Background(), srv.URL, []string{"echo/2", "echo/1"}, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	fmt.Println(resp.Status, "to", resp.Header.Get("Upgrade"))

	fmt.Fprint(conn, "hello")
	buf := make([]byte, 5)
	io.ReadFull(conn, buf)
	fmt.Println(string(buf))
	// Output:
	// 101 Switching Protocols to echo/1
	// hello
}

// An endpoint answers what does not switch with 426, naming what would.
func ExampleNegotiator_Endpoint() {
	n, _ := negotiate.New(nil)
	reg := new(negotiate.Registry)
	reg.HandleFunc("kv/2", func(c *negotiate.Conn) error { return nil })
	reg.HandleFunc("kv/1", func(c *negotiate.Conn) error { return nil })
	srv := httptest.NewServer(n.Endpoint(reg))
	defer srv.Close()

	_, _, err := negotiate.Dial(context.Background(), srv.URL, []string{"kv/3"}, nil)
	var refusal *negotiate.Error
	if errors.As(err, &refusal) {
		fmt.Println(refusal.Status, refusal.Header.Get("Upgrade"))
		fmt.Println(refusal.Reason)
	}
	// Output:
	// 426 kv/2, kv/1
	// this resource requires a protocol upgrade to one of: kv/2, kv/1
}

// Authorize runs last, with the chosen token; it can refuse with any status
// or add headers, such as a cookie, to the 101.
func ExampleOptions_authorize() {
	n, _ := negotiate.New(&negotiate.Options{
		Authorize: func(r *http.Request, token string, h http.Header) error {
			if r.Header.Get("Authorization") != "Bearer secret" {
				return negotiate.Refusal(http.StatusUnauthorized, "missing token", "WWW-Authenticate", "Bearer")
			}
			h.Set("Set-Cookie", "session=1")
			return nil
		},
	})
	reg := new(negotiate.Registry)
	reg.HandleFunc("echo/1", func(c *negotiate.Conn) error { return nil })
	srv := httptest.NewServer(n.Endpoint(reg))
	defer srv.Close()
	defer n.Shutdown(context.Background())

	_, _, err := negotiate.Dial(context.Background(), srv.URL, []string{"echo/1"}, nil)
	fmt.Println(err)
	conn, resp, err := negotiate.Dial(context.Background(), srv.URL, []string{"echo/1"},
		http.Header{"Authorization": {"Bearer secret"}})
	if err != nil {
		log.Fatal(err)
	}
	conn.Close()
	fmt.Println(resp.StatusCode, resp.Header.Get("Set-Cookie"))
	// Output:
	// negotiate: 401 Unauthorized: missing token
	// 101 session=1
}

// Shutdown asks each connection to close its protocol's way and waits;
// RegisterOnShutdown starts it from http.Server.Shutdown.
func ExampleNegotiator_Shutdown() {
	n, _ := negotiate.New(nil)
	reg := new(negotiate.Registry)
	reg.Register("chat", negotiate.Protocol{
		Serve: func(c *negotiate.Conn) error {
			_, err := io.Copy(io.Discard, c)
			return err
		},
		// The protocol's own goodbye, when the negotiator shuts down.
		Shutdown: func(c *negotiate.Conn) {
			fmt.Fprint(c, "bye\n")
			c.Close()
		},
	})
	srv := httptest.NewServer(n.Endpoint(reg))
	defer srv.Close()
	n.RegisterOnShutdown(srv.Config)

	conn, _, err := negotiate.Dial(context.Background(), srv.URL, []string{"chat"}, nil)
	if err != nil {
		log.Fatal(err)
	}
	srv.Config.Shutdown(context.Background()) // starts the negotiator's shutdown
	rest, _ := io.ReadAll(conn)
	fmt.Printf("%q\n", rest)
	fmt.Println(n.Shutdown(context.Background()), n.Stats().Active["chat"])
	// Output:
	// "bye\n"
	// <nil> 0
}
