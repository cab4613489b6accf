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
	n, _ := negotiate.New(nil) // nil options cannot fail
	reg := new(negotiate.Registry)
	reg.HandleFunc("echo/1", func(c *negotiate.Conn) error {
		_, err := io.Copy(c, c)
		return err
	})
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
		Authorize: func(s *negotiate.Switch) error {
			if s.Request.Header.Get("Authorization") != "Bearer secret" {
				return negotiate.Refusal(http.StatusUnauthorized, "missing token", "WWW-Authenticate", "Bearer")
			}
			s.Header.Set("Set-Cookie", "session=1")
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

// Shutdown cancels each connection's context: a protocol that watches it
// says goodbye its own way, and what it writes before it returns reaches
// the client. RegisterOnShutdown starts it from http.Server.Shutdown.
func ExampleNegotiator_Shutdown() {
	n, _ := negotiate.New(nil)
	reg := new(negotiate.Registry)
	reg.HandleFunc("chat", func(c *negotiate.Conn) error {
		<-c.Context().Done() // the shutdown
		_, err := fmt.Fprint(c, "bye\n")
		return err
	})
	srv := httptest.NewServer(n.Endpoint(reg))
	defer srv.Close()
	n.RegisterOnShutdown(srv.Config)

	conn, _, err := negotiate.Dial(context.Background(), srv.URL, []string{"chat"}, nil)
	if err != nil {
		log.Fatal(err)
	}
	srv.Config.Shutdown(context.Background()) // starts the negotiator's shutdown
	rest, _ := io.ReadAll(conn)               // "bye\n", then the end of the stream
	conn.Close()
	fmt.Printf("%q\n", rest)
	fmt.Println(n.Shutdown(context.Background()), n.Stats().Active["chat"])
	// Output:
	// "bye\n"
	// <nil> 0
}

// A protocol of your own with all three steps: Check looks at the offer,
// Accept adds a field to the 101 (or refuses), and the func it returns
// serves the switched connection on a goroutine of its own.
func ExampleProtocol() {
	n, _ := negotiate.New(nil)
	reg := new(negotiate.Registry)
	reg.Register("greet", negotiate.Protocol{
		Check: func(r *http.Request) error {
			if r.Header.Get("Name") == "" {
				return negotiate.Refusal(http.StatusBadRequest, "greet needs a Name field")
			}
			return nil
		},
		Accept: func(s *negotiate.Switch) (func(*negotiate.Conn) error, error) {
			name := s.Request.Header.Get("Name")
			s.Header.Set("Greeting-Version", "1")
			return func(c *negotiate.Conn) error {
				_, err := fmt.Fprintf(c, "hello, %s\n", name)
				return err // the negotiator closes without losing the greeting
			}, nil
		},
	})
	srv := httptest.NewServer(n.Endpoint(reg))
	defer srv.Close()
	defer n.Shutdown(context.Background())

	_, _, err := negotiate.Dial(context.Background(), srv.URL, []string{"greet"}, nil)
	fmt.Println(err)
	conn, resp, err := negotiate.Dial(context.Background(), srv.URL, []string{"greet"}, http.Header{"Name": {"Ada"}})
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	greeting, _ := io.ReadAll(conn)
	fmt.Print(resp.Header.Get("Greeting-Version"), " ", string(greeting))
	// Output:
	// negotiate: 400 Bad Request: greet needs a Name field
	// 1 hello, Ada
}
