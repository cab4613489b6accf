package protocols_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"github.com/switchyard-http/switchyard/negotiate"
	"github.com/switchyard-http/switchyard/protocols"
)

// A raw stream in the style of Docker's attach: the client sends its input
// and half-closes; the function reads to io.EOF and answers.
func ExampleStream() {
	n, _ := negotiate.New(nil)
	reg := new(negotiate.Registry)
	reg.Register("tcp", protocols.Stream(func(c *negotiate.Conn) error {
		in, err := io.ReadAll(c) // io.EOF: the client closed its side
		if err != nil {
			return err
		}
		_, err = io.WriteString(c, strings.ToUpper(string(in)))
		return err
	}))
	srv := httptest.NewServer(n.Endpoint(reg))
	defer srv.Close()
	defer n.Shutdown(context.Background())

	fmt.Println(attach(srv.URL, "attach me"))
	// Output:
	// ATTACH ME
}

// attach is the client of the Stream examples: it offers tcp, sends input,
// half-closes and returns everything the server answers.
func attach(url, input string) string {
	conn, _, err := negotiate.Dial(context.Background(), url, []string{"tcp"}, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, input)
	conn.(interface{ CloseWrite() error }).CloseWrite() // "no more input"
	out, err := io.ReadAll(conn)
	if err != nil {
		log.Fatal(err)
	}
	return string(out)
}

// A protocol that joins the client to a local TCP service: whatever the
// client sends goes to the service, whatever the service answers comes
// back, half-closes included.
func ExampleJoin() {
	// The local service: it reads to the end and answers in upper case.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		in, _ := io.ReadAll(c)
		io.WriteString(c, strings.ToUpper(string(in)))
	}()

	n, _ := negotiate.New(nil)
	reg := new(negotiate.Registry)
	reg.Register("tcp", protocols.Stream(func(c *negotiate.Conn) error {
		peer, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			return err
		}
		return protocols.Join(c, peer)
	}))
	srv := httptest.NewServer(n.Endpoint(reg))
	defer srv.Close()
	defer n.Shutdown(context.Background())

	fmt.Println(attach(srv.URL, "to the service"))
	// Output:
	// TO THE SERVICE
}

// The tunnel registered under the one token it forwards, beside a protocol
// of the gateway's own; the Dialer bounds the backend's handshake.
func ExampleTunnel_Protocol() {
	backend, stop := echoBackend()
	defer stop()

	tun, err := protocols.NewTunnel(backend.URL, &protocols.TunnelOptions{
		Dialer: &negotiate.Dialer{HandshakeTimeout: 5 * time.Second},
	})
	if err != nil {
		log.Fatal(err)
	}
	n, _ := negotiate.New(nil)
	reg := new(negotiate.Registry)
	reg.Register("echo/1", tun.Protocol())
	reg.HandleFunc("time", func(c *negotiate.Conn) error {
		_, err := io.WriteString(c, "served here\n")
		return err
	})
	gw := httptest.NewServer(n.Endpoint(reg))
	defer gw.Close()
	defer n.Shutdown(context.Background())

	_, reply := echo(gw.URL, "via the backend")
	fmt.Println(reply)

	local, _, err := negotiate.Dial(context.Background(), gw.URL, []string{"time"}, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer local.Close()
	line, _ := bufio.NewReader(local).ReadString('\n')
	fmt.Print(line)
	// Output:
	// via the backend
	// served here
}

// echoBackend is the backend of the Tunnel examples, a Switchyard server
// that serves echo/1 on any path.
func echoBackend() (srv *httptest.Server, stop func()) {
	n, _ := negotiate.New(nil)
	reg := new(negotiate.Registry)
	reg.HandleFunc("echo/1", func(c *negotiate.Conn) error {
		_, err := io.Copy(c, c)
		return err
	})
	srv = httptest.NewServer(n.Endpoint(reg))
	return srv, func() {
		srv.Close()
		n.Shutdown(context.Background())
	}
}

// echo is the echo/1 client of the Tunnel examples: it sends msg and
// returns the 101 and what came back.
func echo(url, msg string) (*http.Response, string) {
	conn, resp, err := negotiate.Dial(context.Background(), url, []string{"echo/1"}, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprint(conn, msg)
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(conn, buf); err != nil {
		log.Fatal(err)
	}
	return resp, string(buf)
}

// A gateway: upgrades of any token (but h2c) go through the tunnel to the
// backend, tracked by the gateway's negotiator; plain requests go to the
// next handler (a reverse proxy, in examples/gateway).
func ExampleTunnel_Middleware() {
	backend, stop := echoBackend()
	defer stop()

	n, _ := negotiate.New(nil)
	tun, err := protocols.NewTunnel(backend.URL, nil)
	if err != nil {
		log.Fatal(err)
	}
	gw := httptest.NewServer(tun.Middleware(n)(http.NotFoundHandler()))
	defer gw.Close()
	defer n.Shutdown(context.Background())

	resp, reply := echo(gw.URL, "through the tunnel")
	fmt.Println(resp.Status, resp.Header.Get("Upgrade"))
	fmt.Println(reply)

	// What the backend refuses, the client gets as the backend said it.
	_, _, err = negotiate.Dial(context.Background(), gw.URL, []string{"chat"}, nil)
	fmt.Println(err)
	// Output:
	// 101 Switching Protocols echo/1
	// through the tunnel
	// negotiate: 426 Upgrade Required: this resource requires a protocol upgrade to one of: echo/1
}

// kv is a tiny request/response protocol, one command per line and one
// reply per line, in two versions: kv/2 adds DEL. One function serves
// both, asking the connection which version was chosen.
func kv(store *sync.Map) func(c *negotiate.Conn) error {
	return func(c *negotiate.Conn) error {
		v2 := strings.EqualFold(c.Token(), "kv/2")
		sc := bufio.NewScanner(c)
		for sc.Scan() {
			var reply string
			switch f := strings.Fields(sc.Text()); {
			case len(f) == 3 && f[0] == "SET":
				store.Store(f[1], f[2])
				reply = "OK"
			case len(f) == 2 && f[0] == "GET":
				v, ok := store.Load(f[1])
				reply = "(nil)"
				if ok {
					reply = v.(string)
				}
			case len(f) == 2 && f[0] == "DEL" && v2:
				_, ok := store.LoadAndDelete(f[1])
				reply = map[bool]string{true: "1", false: "0"}[ok]
			default:
				reply = "ERR unknown command in " + c.Token()
			}
			if _, err := fmt.Fprintln(c, reply); err != nil {
				return err
			}
		}
		return sc.Err()
	}
}

// A versioned custom protocol: registered as kv/1 and kv/2, a new client
// offering "kv/2, kv/1" gets kv/2, and an old one offering kv/1 still
// works.
func Example_versioned() {
	n, _ := negotiate.New(nil)
	reg := new(negotiate.Registry)
	var store sync.Map
	reg.HandleFunc("kv/2", kv(&store))
	reg.HandleFunc("kv/1", kv(&store))
	srv := httptest.NewServer(n.Middleware(reg)(http.NotFoundHandler()))
	defer srv.Close()
	defer n.Shutdown(context.Background())

	session := func(offer []string, commands ...string) {
		conn, resp, err := negotiate.Dial(context.Background(), srv.URL, offer, nil)
		if err != nil {
			log.Fatal(err)
		}
		defer conn.Close()
		fmt.Println("switched to", resp.Header.Get("Upgrade"))
		replies := bufio.NewReader(conn)
		for _, cmd := range commands {
			fmt.Fprintln(conn, cmd)
			reply, _ := replies.ReadString('\n')
			fmt.Printf("  %-11s -> %s", cmd, reply)
		}
	}
	session([]string{"kv/2", "kv/1"}, "SET a 1", "GET a", "DEL a", "GET a")
	session([]string{"kv/1"}, "SET b 2", "GET b", "DEL b")
	// Output:
	// switched to kv/2
	//   SET a 1     -> OK
	//   GET a       -> 1
	//   DEL a       -> 1
	//   GET a       -> (nil)
	// switched to kv/1
	//   SET b 2     -> OK
	//   GET b       -> 2
	//   DEL b       -> ERR unknown command in kv/1
}
