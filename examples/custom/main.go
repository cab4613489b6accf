// Command custom is a versioned custom protocol on Switchyard: a tiny
// key-value store spoken over an upgraded connection, registered as kv/1
// and kv/2 on one server. A client offering "kv/2, kv/1" gets kv/2 (which
// adds DEL and KEYS); an old client offering kv/1 still works.
//
// Serve it:
//
//	go run ./examples/custom [-addr 127.0.0.1:8080]
//
// It prints "listening on http://HOST:PORT" and shuts down gracefully on
// SIGINT or SIGTERM, closing kv connections. Talk to it, one command per
// line on standard input, through negotiate.Dial:
//
//	printf 'SET a 1\nGET a\nDEL a\n' | go run ./examples/custom -connect http://127.0.0.1:8080
//	printf 'GET a\n' | go run ./examples/custom -connect http://127.0.0.1:8080 -offer kv/1
//
// or with the inspector: switchyard raw -offer kv/2 http://127.0.0.1:8080.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"

	"github.com/switchyard-http/switchyard/examples/demoapp"
	"github.com/switchyard-http/switchyard/negotiate"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address, HOST:PORT (port 0 picks a free one)")
	connect := flag.String("connect", "", "act as a client of the server at this URL: commands from standard input")
	offer := flag.String("offer", "kv/2,kv/1", "client: the tokens to offer, in order of preference")
	flag.Parse()
	logger := demoapp.Logger(false)
	demoapp.RunUntilSignal(logger, func(ctx context.Context) error {
		if *connect != "" {
			return client(ctx, *connect, strings.Split(*offer, ","), os.Stdin, os.Stdout)
		}
		return serve(ctx, *addr, os.Stdout, logger)
	})
}

// newHandler registers kv/2 and kv/1 over one store. Plain requests get a
// short explanation; upgrades to anything else are ignored (served plain).
func newHandler(logger *slog.Logger) (*negotiate.Negotiator, http.Handler, error) {
	n, err := negotiate.New(&negotiate.Options{Logger: logger})
	if err != nil {
		return nil, nil, err
	}
	s := new(store)
	reg := new(negotiate.Registry)
	reg.HandleFunc("kv/2", s.serve)
	reg.HandleFunc("kv/1", s.serve)
	plain := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "kv speaks over an upgrade: send Connection: Upgrade and Upgrade: kv/2, kv/1")
	})
	return n, n.Middleware(reg)(plain), nil
}

// serve runs the server until ctx ends, then shuts down gracefully
// (demoapp's Config.Serve, which the examples share): each kv connection
// stops reading and closes.
func serve(ctx context.Context, addr string, out io.Writer, logger *slog.Logger) error {
	n, h, err := newHandler(logger)
	if err != nil {
		return err
	}
	cfg := demoapp.Config{Addr: addr, Out: out, Logger: logger}
	srv := cfg.HTTPServer(h)
	n.RegisterOnShutdown(srv)
	return cfg.Serve(ctx, srv, n)
}

// client switches to kv at url, sends each line of in as a command and
// prints each reply to out.
func client(ctx context.Context, url string, offer []string, in io.Reader, out io.Writer) error {
	conn, resp, err := negotiate.Dial(ctx, url, offer, nil)
	if err != nil {
		return err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	fmt.Fprintf(out, "switched to %s\n", resp.Header.Get("Upgrade"))
	replies := bufio.NewReader(conn)
	lines := bufio.NewScanner(in)
	for lines.Scan() {
		if strings.TrimSpace(lines.Text()) == "" {
			continue
		}
		if _, err := fmt.Fprintln(conn, lines.Text()); err != nil {
			return err
		}
		reply, err := replies.ReadString('\n')
		if err != nil {
			return fmt.Errorf("reading the reply: %w", err)
		}
		fmt.Fprint(out, reply)
	}
	return lines.Err()
}
