package websocket

import (
	"encoding/base64"
	"net/http"
	"path"
	"strconv"
	"strings"

	"github.com/switchyard-http/switchyard/internal/httpsyntax"
	"github.com/switchyard-http/switchyard/negotiate"
)

// check validates the prerequisites of RFC 6455 §4.2.1 before the protocol
// is chosen (of RFC 8441 §5 for an extended CONNECT on an HTTP/2 stream),
// then the Origin and the required subprotocol. It does not allocate
// unless it refuses.
func (p *protocol) check(r *http.Request) error {
	if r.ProtoMajor != 1 {
		if err := checkExtendedConnect(r); err != nil {
			return err
		}
	} else if err := checkUpgrade(r); err != nil {
		return err
	}
	if !p.opts.InsecureSkipOriginCheck {
		if err := p.checkOrigin(r); err != nil {
			return err
		}
	}
	if p.opts.RequireSubprotocol && p.subprotocol(r.Header) < 0 {
		return negotiate.Refusal(http.StatusBadRequest, "no offered subprotocol is supported; this server speaks: "+strings.Join(p.opts.Subprotocols, ", "))
	}
	return nil
}

// checkUpgrade validates an HTTP/1.1 opening handshake (RFC 6455 §4.2.1).
func checkUpgrade(r *http.Request) error {
	if r.Method != http.MethodGet {
		return negotiate.Refusal(http.StatusMethodNotAllowed, "a WebSocket handshake must be a GET request", "Allow", http.MethodGet)
	}
	if r.Host == "" {
		return negotiate.Refusal(http.StatusBadRequest, "a WebSocket handshake needs a Host header")
	}
	if keys := r.Header["Sec-Websocket-Key"]; len(keys) != 1 {
		if len(keys) == 0 {
			return negotiate.Refusal(http.StatusBadRequest, "missing Sec-WebSocket-Key header")
		}
		return negotiate.Refusal(http.StatusBadRequest, "repeated Sec-WebSocket-Key header")
	} else if !validKey(keys[0]) {
		return negotiate.Refusal(http.StatusBadRequest, "Sec-WebSocket-Key must be the base64 encoding of 16 bytes")
	}
	if !offersBareWebSocket(r.Header["Upgrade"]) {
		return negotiate.Refusal(http.StatusBadRequest, "a WebSocket handshake must offer the token websocket without a version in Upgrade")
	}
	switch vs := r.Header["Sec-Websocket-Version"]; {
	case len(vs) > 1:
		return negotiate.Refusal(http.StatusBadRequest, "repeated Sec-WebSocket-Version header")
	case len(vs) == 0 || vs[0] != "13":
		return errVersion
	}
	return nil
}

// checkExtendedConnect validates an extended CONNECT for a WebSocket
// (RFC 8441 §5): :protocol websocket itself, the Host information in
// :authority (Go's HTTP/2 servers pass on a request without it, with an
// empty r.Host), and Sec-WebSocket-Version 13; there is no key, since the
// stream is the server's answer to this one request.
func checkExtendedConnect(r *http.Request) error {
	if !strings.EqualFold(r.Header.Get(":protocol"), "websocket") {
		return negotiate.Refusal(http.StatusBadRequest, "an extended CONNECT for a WebSocket must name the protocol websocket without a version")
	}
	if r.Host == "" {
		return negotiate.Refusal(http.StatusBadRequest, "a WebSocket over HTTP/2 needs :authority, which carries the handshake's Host (RFC 8441 §5)")
	}
	switch vs := r.Header["Sec-Websocket-Version"]; {
	case len(vs) == 0:
		return negotiate.Refusal(http.StatusBadRequest, "missing Sec-WebSocket-Version header: a WebSocket over HTTP/2 needs Sec-WebSocket-Version: 13 (RFC 8441 §5)")
	case len(vs) > 1:
		return negotiate.Refusal(http.StatusBadRequest, "repeated Sec-WebSocket-Version header")
	case vs[0] != "13":
		return errVersion
	}
	return nil
}

// errVersion answers a version the server does not speak (RFC 6455
// §4.2.2). A 426 names the protocol it requires in Upgrade (RFC 9110
// §15.5.22), with upgrade in Connection (§7.8); over HTTP/2 the negotiator
// leaves both out.
var errVersion = negotiate.Refusal(http.StatusUpgradeRequired, "unsupported WebSocket version: this server speaks version 13",
	"Sec-WebSocket-Version", "13", "Upgrade", "websocket", "Connection", "Upgrade")

// validKey reports whether k is the base64 encoding of 16 bytes. The
// arrays keep the decoding on the stack.
func validKey(k string) bool {
	var src [24]byte
	var dst [18]byte
	if len(k) != len(src) {
		return false
	}
	copy(src[:], k)
	n, err := base64.StdEncoding.Decode(dst[:], src[:])
	return err == nil && n == 16
}

// checkOrigin lets pass requests without Origin (not from a browser), from
// the same origin, from origins that match a pattern, and those
// Options.CheckOrigin allows.
func (p *protocol) checkOrigin(r *http.Request) error {
	vs := r.Header["Origin"]
	if len(vs) == 0 || len(vs) == 1 && vs[0] == "" {
		return nil
	}
	if len(vs) > 1 {
		return negotiate.Refusal(http.StatusForbidden, "repeated Origin header")
	}
	host, ok := originHost(vs[0])
	if ok {
		if strings.EqualFold(host, r.Host) {
			return nil
		}
		lower := strings.ToLower(host)
		for _, pat := range p.patterns {
			if matched, _ := path.Match(pat, lower); matched {
				return nil
			}
		}
	}
	if p.opts.CheckOrigin != nil && p.opts.CheckOrigin(r) {
		return nil
	}
	return negotiate.Refusal(http.StatusForbidden, "cross-origin WebSocket refused: Origin "+strconv.Quote(vs[0])+" is not allowed for host "+strconv.Quote(r.Host))
}

// originHost returns the host[:port] of a serialized origin
// (RFC 6454 §6.2: scheme "://" host [":" port]). An opaque origin ("null")
// or one with user information has no host that could match.
func originHost(o string) (string, bool) {
	i := strings.Index(o, "://")
	if i <= 0 {
		return "", false
	}
	host := o[i+3:]
	if j := strings.IndexAny(host, "/?#"); j >= 0 {
		host = host[:j]
	}
	if host == "" || strings.ContainsAny(host, "@ \t") {
		return "", false
	}
	return host, true
}

// offersBareWebSocket reports whether the Upgrade field lines list the
// token websocket itself (RFC 6455 §4.2.1), not only a versioned
// "websocket/13", which the registry would match but no WebSocket client
// sends.
func offersBareWebSocket(lines []string) bool {
	it := httpsyntax.List{Lines: lines}
	for t, ok := it.Next(); ok; t, ok = it.Next() {
		if strings.EqualFold(t, "websocket") {
			return true
		}
	}
	return false
}

// subprotocol returns the index in Options.Subprotocols of the subprotocol
// to speak: in the client's order of Sec-WebSocket-Protocol (all field
// lines) by default, in the server's by option; -1 when none matches.
func (p *protocol) subprotocol(h http.Header) int {
	offered := h["Sec-Websocket-Protocol"]
	if len(p.opts.Subprotocols) == 0 || len(offered) == 0 {
		return -1
	}
	if p.opts.ServerSubprotocolPreference {
		for i, s := range p.opts.Subprotocols {
			it := httpsyntax.List{Lines: offered}
			for t, ok := it.Next(); ok; t, ok = it.Next() {
				if t == s {
					return i
				}
			}
		}
		return -1
	}
	it := httpsyntax.List{Lines: offered}
	for t, ok := it.Next(); ok; t, ok = it.Next() {
		for i, s := range p.opts.Subprotocols {
			if t == s {
				return i
			}
		}
	}
	return -1
}
