package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard-http/switchyard/internal/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// syncBuffer collects the server's output.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startServe runs serve on a free port and returns its URL; the server is
// shut down (and must return nil) when the test ends.
func startServe(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := new(syncBuffer)
	done := make(chan error, 1)
	go func() { done <- serve(ctx, "127.0.0.1:0", out, nil) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve returned %v, want nil", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("serve did not return after the signal")
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		if line, ok := strings.CutPrefix(out.String(), "listening on "); ok && strings.HasSuffix(line, "\n") {
			return strings.TrimSpace(line)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no listening line; output %q", out.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
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
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
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
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := client(ctx, url, []string{"kv/3"}, strings.NewReader(""), io.Discard); err == nil {
		t.Error("kv/3 switched, want the offer ignored")
	}
}
