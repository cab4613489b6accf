package main

import (
	"encoding/pem"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"

	"github.com/switchyard-http/switchyard/internal/testkit"
)

// Over TLS, a URL with an IPv6 zone has the certificate checked against
// the address without it, over HTTP/1.1 and with -h2 (doc.go: TLS checks
// the URL's host): with the zone, x509 took '::1%lo' for a name and every
// such URL failed ("not valid for ::1%lo"). TestIPv6Zone passes -k, which
// skips the check; here the command runs as a program of its own that
// trusts the test server's certificate by SSL_CERT_FILE.
func TestIPv6ZoneCertificateChecked(t *testing.T) {
	switch runtime.GOOS {
	case "darwin", "ios", "windows":
		t.Skip("SSL_CERT_FILE does not choose the roots on " + runtime.GOOS)
	}
	testkit.IPv6Loopback(t) // skips without IPv6
	lo := testkit.LoopbackZone(t)
	if testkit.InXConnectChild(t) {
		return
	}
	hosts := make(chan string, 4)
	srv := ipv6Server(t, true, hosts)
	port := strconv.Itoa(srv.Listener.Addr().(*net.TCPAddr).Port)
	dir := t.TempDir()
	roots := filepath.Join(dir, "roots.pem")
	if err := os.WriteFile(roots, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "switchyard")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	zoned := "https://[::1%25" + lo + "]:" + port + "/"
	for _, fl := range [][]string{{"raw", "-offer", "echo/1"}, {"raw", "-h2", "-offer", "echo/1"}} {
		cmd := exec.Command(bin, append(fl, zoned)...)
		cmd.Env = append(os.Environ(), "SSL_CERT_FILE="+roots)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("switchyard %v %s: %v, want the certificate for ::1 taken; output:\n%s", fl, zoned, err, out)
			continue
		}
		if got := testkit.Receive(t, hosts, "the switch's Host"); got != "[::1]:"+port {
			t.Errorf("switchyard %v %s: the server read Host %q, want %q", fl, zoned, got, "[::1]:"+port)
		}
	}
}
