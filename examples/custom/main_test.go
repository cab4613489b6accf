package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/switchyard-http/switchyard/examples/internal/democontract"
	"github.com/switchyard-http/switchyard/internal/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// startServe runs serve on a free port and returns its URL; the server is
// shut down (and must return nil) when the test ends.
func startServe(t *testing.T) string {
	t.Helper()
	url, _ := democontract.Start(t, func(ctx context.Context, out io.Writer) error { return serve(ctx, "127.0.0.1:0", out, nil) })
	return url
}

func TestVersions(t *testing.T) {
	t.Parallel()
	url := startServe(t)
	for _, tc := range []struct {
		name  string
		offer []string
		in    string
		want  string
	}{
		{"new client gets kv/2", []string{"kv/2", "kv/1"}, "SET a 1\nGET a\nKEYS\nDEL a\nDEL a\nGET a\n",
			"switched to kv/2\nOK\n1\n1\n1\n0\n(nil)\n"},
		{"old client still gets kv/1", []string{"kv/1"}, "SET b 2\nGET b\nDEL b\n",
			"switched to kv/1\nOK\n2\nERR unknown command DEL (kv/1: SET k v, GET k)\n"},
		// A known command with the wrong arguments is not an unknown
		// one (audit: "ERR unknown command SET").
		{"wrong arguments", []string{"kv/2"}, "SET c\nSET c two words\nGET\nKEYS c\nGET c\n",
			"switched to kv/2\nERR wrong number of arguments for SET (kv/2: SET k v, GET k, DEL k, KEYS)\n" +
				"ERR wrong number of arguments for SET (kv/2: SET k v, GET k, DEL k, KEYS)\n" +
				"ERR wrong number of arguments for GET (kv/2: SET k v, GET k, DEL k, KEYS)\n" +
				"ERR wrong number of arguments for KEYS (kv/2: SET k v, GET k, DEL k, KEYS)\n(nil)\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), testkit.Timeout)
			defer cancel()
			var out bytes.Buffer
			if err := client(ctx, url, tc.offer, strings.NewReader(tc.in), &out); err != nil {
				t.Fatal(err)
			}
			if got := out.String(); got != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

func TestPlainAndUnknown(t *testing.T) {
	t.Parallel()
	url := startServe(t)
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	http.DefaultClient.CloseIdleConnections()
	if !strings.Contains(string(body), "Upgrade: kv/2, kv/1") {
		t.Errorf("plain GET: %q", body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Timeout)
	defer cancel()
	if err := client(ctx, url, []string{"kv/3"}, strings.NewReader(""), io.Discard); err == nil {
		t.Error("kv/3 switched, want the offer ignored")
	}
}

// A client that pipelines commands gets every reply the server wrote
// before it ended the connection, even though it is still sending: kv
// ends the connection at a line over its 64 KiB limit, with 12 MB of
// replies still in flight and 256 KiB of the client's input unread. A
// socket closed with unread input sends a reset, which destroys the
// replies the client has not read yet; the negotiator's close (half-close,
// then drain) must not. Fifty runs, every reply every time.
func TestPipelinedRepliesSurviveTheClose(t *testing.T) {
	t.Parallel()
	url := startServe(t)
	value := strings.Repeat("v", 60_000)
	var in bytes.Buffer
	in.WriteString("SET a " + value + "\n")
	for range 200 {
		in.WriteString("GET a\n")
	}
	in.WriteString(strings.Repeat("x", 64<<10+1) + "\n") // over kv's limit: the end
	in.WriteString(strings.Repeat("y", 256<<10))         // sent all the same
	const want = 201

	for run := range 50 {
		c, _ := testkit.Dial(t, url, []string{"kv/2"}, nil)
		wrote := make(chan error, 1)
		go func() {
			_, err := c.Write(in.Bytes())
			if err == nil {
				err = c.(interface{ CloseWrite() error }).CloseWrite()
			}
			wrote <- err
		}()
		br := bufio.NewReaderSize(c, 64<<10)
		got := 0
		var err error
		for got < want {
			var line string
			if line, err = br.ReadString('\n'); err != nil {
				break
			}
			line = strings.TrimSuffix(line, "\n")
			if got == 0 && line != "OK" || got > 0 && line != value {
				t.Fatalf("run %d: reply %d is %.20q (%d bytes), want %s", run, got+1, line, len(line),
					map[bool]string{true: "OK", false: "the value"}[got == 0])
			}
			got++
		}
		if got != want {
			t.Fatalf("run %d: %d of %d replies, then %v", run, got, want, err)
		}
		if b, err := io.ReadAll(br); err != nil || len(b) != 0 {
			t.Fatalf("run %d: after the replies read %q, %v; want the end of the stream", run, b, err)
		}
		if err := <-wrote; err != nil {
			t.Fatalf("run %d: sending: %v; want every byte accepted", run, err)
		}
		c.Close()
	}
}

// A command the shutdown cuts short is not run: "SET a 12" may be the
// first part of "SET a 123". The shutdown ends kv's read with a deadline,
// and the scanner took the bytes read before it for a last line (audit:
// the client got "OK" for the half-received SET).
func TestShutdownDoesNotRunAPartialCommand(t *testing.T) {
	t.Parallel()
	n, h, err := newHandler(nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := testkit.StartServer(t, h)
	c, _ := testkit.Dial(t, srv.URL, []string{"kv/2"}, nil)
	replies := bufio.NewReader(c)
	if _, err := io.WriteString(c, "SET a 1\n"); err != nil {
		t.Fatal(err)
	}
	if got, err := replies.ReadString('\n'); got != "OK\n" {
		t.Fatalf("SET a 1: %q, %v", got, err)
	}
	if _, err := io.WriteString(c, "SET a 12"); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, "the server to read the partial command", func() bool {
		cs := n.Conns()
		return len(cs) == 1 && cs[0].BytesIn == int64(len("SET a 1\nSET a 12"))
	})
	if err := <-testkit.Shutdown(n, testkit.Timeout); err != nil {
		t.Fatalf("Shutdown = %v, want nil", err)
	}
	if got := testkit.ReadAll(t, replies); got != "" {
		t.Errorf("after the shutdown read %q, want the end of the stream and no reply", got)
	}
}
