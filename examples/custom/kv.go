package main

import (
	"bufio"
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/switchyard-http/switchyard/negotiate"
)

// store is the key-value map all connections share.
type store struct{ m sync.Map }

// serve speaks kv in the version the client was switched to: one command
// per line, one reply per line. kv/1 has SET and GET; kv/2 adds DEL and
// KEYS. A line over 64 KiB ends the connection, and so does a shutdown,
// which does not run a command it cuts short (one without its newline).
// Returning is enough: the negotiator then closes the connection without
// losing the replies still on their way to the client.
func (s *store) serve(c *negotiate.Conn) error {
	// A shutdown ends the connection's context: stop reading.
	ctx := c.Context()
	stop := context.AfterFunc(ctx, func() { _ = c.SetReadDeadline(time.Now()) })
	defer stop()
	v2 := strings.EqualFold(c.Token(), "kv/2")
	sc := bufio.NewScanner(c)
	sc.Split(func(data []byte, atEOF bool) (int, []byte, error) {
		// After a shutdown's deadline, what follows the last newline is
		// a command cut short ("SET a 12" of "SET a 123"), not one to
		// run; at the client's own end it is its last command.
		return bufio.ScanLines(data, atEOF && ctx.Err() == nil)
	})
	for sc.Scan() {
		if _, err := fmt.Fprintln(c, s.do(strings.Fields(sc.Text()), v2)); err != nil {
			return err
		}
	}
	if ctx.Err() != nil {
		return nil // shut down
	}
	return sc.Err()
}

func (s *store) do(f []string, v2 bool) string {
	switch {
	case len(f) == 3 && f[0] == "SET":
		s.m.Store(f[1], f[2])
		return "OK"
	case len(f) == 2 && f[0] == "GET":
		if v, ok := s.m.Load(f[1]); ok {
			return v.(string)
		}
		return "(nil)"
	case v2 && len(f) == 2 && f[0] == "DEL":
		if _, ok := s.m.LoadAndDelete(f[1]); ok {
			return "1"
		}
		return "0"
	case v2 && len(f) == 1 && f[0] == "KEYS":
		var keys []string
		s.m.Range(func(k, _ any) bool { keys = append(keys, k.(string)); return true })
		return fmt.Sprint(len(keys))
	case len(f) == 0:
		return "ERR empty command"
	}
	usage := "(kv/1: SET k v, GET k)"
	if v2 {
		usage = "(kv/2: SET k v, GET k, DEL k, KEYS)"
	}
	if f[0] == "SET" || f[0] == "GET" || v2 && (f[0] == "DEL" || f[0] == "KEYS") {
		return "ERR wrong number of arguments for " + f[0] + " " + usage
	}
	return "ERR unknown command " + f[0] + " " + usage
}
