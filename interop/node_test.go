package interop_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

// TestNodeWS: Node's ws package (node/client.mjs), with and without
// permessage-deflate.
func TestNodeWS(t *testing.T) {
	t.Parallel()
	node, script := nodeClient(t)
	for _, mode := range []string{"plain", "deflate"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			s := newEchoServer(t)
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()

			var stdout, stderr bytes.Buffer
			cmd := exec.CommandContext(ctx, node, script, s.wsURL(), mode)
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			runErr := cmd.Run()
			var r peerReport
			if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
				t.Fatalf("node: %v; stdout %q; stderr %q", runErr, stdout.String(), stderr.String())
			}
			if runErr != nil || r.Error != "" {
				t.Fatalf("node: %v: %s; stderr %q", runErr, r.Error, stderr.String())
			}

			if got, want := r.Status, 101; got != want {
				t.Errorf("status %d, want %d", got, want)
			}
			if got, want := strings.ToLower(r.Upgrade), "websocket"; got != want {
				t.Errorf("Upgrade %q, want %q", got, want)
			}
			if !strings.EqualFold(r.Connection, "upgrade") {
				t.Errorf("Connection %q, want Upgrade", r.Connection)
			}
			checkExtensions(t, r.Extensions, mode == "deflate")
			checkEchoes(t, r)
			if got, want := r.CloseCode, 1000; got != want {
				t.Errorf("node saw close code %d, want %d", got, want)
			}
			s.wantServerClose(ctx, t)
		})
	}
}
