package demoapp_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchyard-http/switchyard/examples/demoapp"
)

// The TLS flags: nothing set is plain HTTP; -cert and -key go together,
// and a file that is not a certificate is an error that says so, before
// the program listens.
func TestTLSConfig(t *testing.T) {
	if conf, err := (demoapp.TLS{}).Config(); conf != nil || err != nil {
		t.Errorf("no TLS flags: %v, %v; want plain HTTP", conf, err)
	}
	conf, err := demoapp.TLS{Enabled: true}.Config()
	if err != nil || len(conf.Certificates) != 1 || strings.Join(conf.NextProtos, ",") != "h2,http/1.1" {
		t.Fatalf("-tls: %v, %v; want a certificate and ALPN h2, http/1.1", conf, err)
	}
	bad := filepath.Join(t.TempDir(), "bad.pem")
	if err := os.WriteFile(bad, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []demoapp.TLS{{CertFile: bad}, {KeyFile: bad}, {Enabled: true, CertFile: bad, KeyFile: bad}} {
		if conf, err := tc.Config(); conf != nil || err == nil {
			t.Errorf("%+v: %v, %v; want an error", tc, conf, err)
		}
	}
}
