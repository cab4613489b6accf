package interop_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// missingPeer skips t because an outside program it needs is not installed,
// or fails t when SWITCHYARD_INTEROP=1 says that every peer must run (CI,
// after .ci/peers.sh), so that a broken install cannot pass as a skip.
func missingPeer(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...) + "; install the peers with: bash .ci/peers.sh"
	if os.Getenv("SWITCHYARD_INTEROP") == "1" {
		t.Fatalf("SWITCHYARD_INTEROP=1 and a peer is missing: %s", msg)
	}
	t.Skip("peer missing: " + msg)
}

// findPeer returns the path of an outside program: the one the environment
// variable env names if it is set (env may be ""), else the first of names
// found on PATH (a name with a slash is looked up as it is). Without one it
// calls missingPeer with missing.
func findPeer(t *testing.T, env string, names []string, missing string) string {
	t.Helper()
	if p := os.Getenv(env); env != "" && p != "" {
		if _, err := exec.LookPath(p); err != nil {
			missingPeer(t, "%s=%s: %v", env, p, err)
		}
		return p
	}
	for _, name := range names {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	missingPeer(t, "%s", missing)
	return ""
}

// nodeClient returns the node binary and the path of node/client.mjs, whose
// ws module must be installed in node/node_modules.
func nodeClient(t *testing.T) (node, script string) {
	t.Helper()
	node, script = nodeScript(t, "client.mjs")
	dir := filepath.Dir(script)
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "ws", "package.json")); err != nil {
		missingPeer(t, "the ws module is not installed in %s (npm ci there)", dir)
	}
	return node, script
}

// nodeScript returns the node binary and the absolute path of node/file.
func nodeScript(t *testing.T, file string) (node, script string) {
	t.Helper()
	node = findPeer(t, "", []string{"node"}, "node is not on PATH")
	dir, err := filepath.Abs("node")
	if err != nil {
		t.Fatal(err)
	}
	return node, filepath.Join(dir, file)
}

// chromium returns the browser binary: $SWITCHYARD_CHROMIUM, or the first
// of the usual names on PATH.
func chromium(t *testing.T) string {
	t.Helper()
	return findPeer(t, "SWITCHYARD_CHROMIUM", []string{"chromium", "chromium-browser", "google-chrome"},
		"no chromium, chromium-browser or google-chrome on PATH")
}
