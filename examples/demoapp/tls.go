package demoapp

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"math/big"
	"net"
	"time"
)

// TLS is how a demo serves HTTPS, set by its flags (TLS.SetFlags):
//
//	-tls               HTTPS with a self-signed certificate made at start (SelfSigned)
//	-cert FILE -key FILE  HTTPS with this certificate and key (PEM); -tls is implied
//
// Over TLS the server speaks HTTP/2 and HTTP/1.1, chosen by ALPN; h2c is
// for cleartext connections only (an Upgrade: h2c over TLS is ignored).
type TLS struct {
	Enabled  bool   // serve HTTPS
	CertFile string // PEM certificate (chain); empty: a self-signed one
	KeyFile  string // PEM private key of CertFile
}

// SetFlags defines -tls, -cert and -key on fs, setting t.
func (t *TLS) SetFlags(fs *flag.FlagSet) {
	fs.BoolVar(&t.Enabled, "tls", t.Enabled, "serve HTTPS (HTTP/2 and HTTP/1.1) with a self-signed certificate for 127.0.0.1, ::1 and localhost")
	fs.StringVar(&t.CertFile, "cert", t.CertFile, "serve HTTPS with this PEM certificate (with -key)")
	fs.StringVar(&t.KeyFile, "key", t.KeyFile, "the PEM private key of -cert")
}

// Config returns the server's TLS configuration, nil when t asks for
// plain HTTP: the certificate of CertFile and KeyFile, or a self-signed
// one, and ALPN offering h2 then http/1.1. Pass it as http.Server's
// TLSConfig and to tls.NewListener (net/http then serves HTTP/2 on the
// connections that chose h2).
func (t TLS) Config() (*tls.Config, error) {
	if !t.Enabled && t.CertFile == "" && t.KeyFile == "" {
		return nil, nil
	}
	var cert tls.Certificate
	var err error
	switch {
	case t.CertFile != "" && t.KeyFile != "":
		cert, err = tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
	case t.CertFile != "" || t.KeyFile != "":
		return nil, errors.New("-cert and -key go together")
	default:
		var certPEM, keyPEM []byte
		if certPEM, keyPEM, err = SelfSigned(); err == nil {
			cert, err = tls.X509KeyPair(certPEM, keyPEM)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("TLS certificate: %w", err)
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		NextProtos:   []string{"h2", "http/1.1"},
		MinVersion:   tls.VersionTLS12,
	}, nil
}

// SelfSignedValidity is how long a SelfSigned certificate is valid: a
// demo's certificate, made at each start, need not outlive the process
// by much.
const SelfSignedValidity = 24 * time.Hour

// SelfSigned makes a self-signed server certificate for 127.0.0.1, ::1
// and localhost, with a new ECDSA P-256 key, valid from an hour ago (for
// clocks a little behind) for SelfSignedValidity, and returns it and its
// key in PEM. A browser asks once to accept it; a Go client trusts it by
// putting the certificate in its RootCAs.
func SelfSigned() (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{Organization: []string{"Switchyard demo"}, CommonName: "localhost"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(SelfSignedValidity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), nil
}
