package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"time"

	"github.com/switchyard-http/switchyard/examples/demoapp"
	"github.com/switchyard-http/switchyard/negotiate"
	"github.com/switchyard-http/switchyard/protocols"
)

// tunnelHandshakeTimeout bounds the tunnel's exchange with the backend,
// below demoapp.ShutdownGrace.
const tunnelHandshakeTimeout = 5 * time.Second

// gateway is the handler and what its shutdown needs.
type gateway struct {
	n         *negotiate.Negotiator
	handler   http.Handler
	transport *http.Transport
}

// newGateway puts the tunnel's middleware in front of a reverse proxy.
// Both keep the client's Host (the backend's same-origin checks see what
// the client sent) and replace the forwarding fields with their own.
func newGateway(backend string, logger *slog.Logger) (*gateway, error) {
	u, err := url.Parse(backend)
	if err != nil {
		return nil, fmt.Errorf("-backend: %w", err)
	}
	// A backend that does not answer an upgrade within 5s gets the client
	// a 504; under the shutdown's grace, so that a shutdown meanwhile
	// still answers the client.
	tun, err := protocols.NewTunnel(backend, &protocols.TunnelOptions{Logger: logger,
		Dialer: &negotiate.Dialer{HandshakeTimeout: tunnelHandshakeTimeout}})
	if err != nil {
		return nil, err
	}
	n, err := negotiate.New(&negotiate.Options{Logger: logger, ShutdownTimeout: demoapp.ShutdownGrace})
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
			pr.Out.Host = pr.In.Host
			pr.SetXForwarded()
			pr.Out = pr.Out.WithContext(context.WithValue(pr.Out.Context(), keptUpgradeKey{}, new([]string)))
		},
		Transport:      keepUpgrade{tr},
		ModifyResponse: modifyResponse,
		ErrorLog:       slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		// A one-line reason, as the tunnel gives, where ReverseProxy's own
		// 502 has an empty body; the cause goes to the log.
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			logger.Info("gateway: backend request failed", "remote", r.RemoteAddr, "path", r.URL.Path, "err", err)
			reason := "bad gateway: the backend could not be reached"
			if errors.Is(err, errSwitchedPlain) {
				reason = "bad gateway: the backend " + errSwitchedPlain.Error()
			}
			http.Error(w, reason, http.StatusBadGateway)
		},
	}
	return &gateway{n: n, handler: tun.Middleware(n)(proxy), transport: tr}, nil
}

// errSwitchedPlain is a 101 to a plain request: the tunnel's middleware
// takes every offer off the requests ReverseProxy forwards.
var errSwitchedPlain = errors.New("switched protocols on a request that offered none")

// modifyResponse refuses a 101, which ReverseProxy would answer 502 but
// with the switched connection left open; an error from ModifyResponse
// makes it close the response's body, that connection. Other responses
// go to restoreUpgrade.
func modifyResponse(resp *http.Response) error {
	if resp.StatusCode == http.StatusSwitchingProtocols {
		return errSwitchedPlain
	}
	return restoreUpgrade(resp)
}

// A 426 names in Upgrade what the backend would switch to, but
// ReverseProxy drops Upgrade from every response as a hop-by-hop field.
// keepUpgrade keeps a 426's list aside and restoreUpgrade puts it back, so
// the client learns what to offer.
type keptUpgradeKey struct{}

type keepUpgrade struct{ http.RoundTripper }

func (k keepUpgrade) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := k.RoundTripper.RoundTrip(r)
	if err == nil && resp.StatusCode == http.StatusUpgradeRequired {
		if kept, ok := r.Context().Value(keptUpgradeKey{}).(*[]string); ok {
			*kept = resp.Header.Values("Upgrade")
		}
	}
	return resp, err
}

func restoreUpgrade(resp *http.Response) error {
	if kept, ok := resp.Request.Context().Value(keptUpgradeKey{}).(*[]string); ok && len(*kept) > 0 {
		resp.Header["Upgrade"] = *kept
		resp.Header.Set("Connection", "Upgrade")
	}
	return nil
}
