package negotiate

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/switchyard-http/switchyard/internal/upgrade"
)

// Dialer sends upgrade requests: the client side of the negotiator. The
// zero value is usable, and so is a nil *Dialer, as with gorilla/websocket.
// It connects to the server itself: HTTP_PROXY, HTTPS_PROXY and NO_PROXY
// are not consulted, as with a zero gorilla/websocket Dialer (net/http's
// DefaultTransport and gorilla's DefaultDialer consult them); a NetDial can
// go through a proxy.
type Dialer struct {
	// NetDial, if set, opens the TCP connection. Default: a net.Dialer.
	NetDial func(ctx context.Context, network, addr string) (net.Conn, error)
	// TLSConfig is used for https and wss URLs (offering only http/1.1 by
	// ALPN). Default: an empty config.
	TLSConfig *tls.Config
	// HandshakeTimeout bounds the exchange, from dialing to the 101 or a
	// refusal's head, and then the refusal's body: a body still unfinished
	// when it passes ends there, and Dial returns the refusal's [*Error]
	// with the part that arrived. Default 10s; ctx may end it earlier, and
	// then Dial fails whatever has arrived.
	HandshakeTimeout time.Duration
	// MaxRefusalBytes bounds the body of a refusal kept in the [*Error].
	// Default 64 KiB.
	MaxRefusalBytes int64
	// MaxResponseHeaderBytes bounds the server's response heads together:
	// the final head and every interim (1xx) head before it. Default
	// 64 KiB. A server past it, or one that sends more than eight interim
	// responses, fails the dial at once with an error that says which,
	// without reading further: a hostile server cannot make Dial read an
	// endless head into memory.
	MaxResponseHeaderBytes int64
}

// ErrBadSwitch is wrapped by the error [Dialer.Dial] returns for a 101 that
// is not valid: its Upgrade field does not name exactly one protocol, one
// that was offered, or its Connection field does not list upgrade.
var ErrBadSwitch = upgrade.ErrBadSwitch

// Dial sends a GET upgrade request to rawURL (http, https, ws or wss)
// offering the tokens in offer, in order of preference, with the fields of
// header added (Connection and Upgrade are set from offer). A Host field
// in header is the Host the request names, as with gorilla's Dialer; the
// connection still goes to rawURL's address, and TLS checks rawURL's host
// unless TLSConfig names a server. An IPv6 literal's zone
// ("wss://[fe80::1%25eth0]:8443/ws") chooses the interface to dial; Host
// leaves it out, as net/http's client does, and so does the name TLS
// checks the certificate against. A host name that is not ASCII is an
// error before anything is dialled: give an internationalized name in its
// A-label form ("xn--bcher-kva.example"), which net/http's client makes
// with IDNA, beyond the standard library. A user and password in rawURL are
// sent as Basic authorization unless header has an Authorization field,
// as net/http's client sends them. On a valid 101 it returns the
// connection, whose first reads return any bytes that arrived behind the
// 101, and the response (the chosen token is its Upgrade field). A refusal
// comes back as an [*Error] carrying the status, the header and the body
// (as Reason), with the response, whose Body reads the part of the body
// that was kept (it need not be closed); a status outside 100-599 is an error
// of its own. If ctx ends before the exchange is over,
// Dial fails with its error, even when the response had arrived; once Dial
// has returned, ctx no longer matters to the connection.
func (d *Dialer) Dial(ctx context.Context, rawURL string, offer []string, header http.Header) (net.Conn, *http.Response, error) {
	if d == nil {
		d = new(Dialer) // as a nil gorilla/websocket *Dialer dials
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, nil, fmt.Errorf("negotiate: dial: %w", err)
	}
	c := upgrade.Client{NetDial: d.NetDial, TLSConfig: d.TLSConfig, Timeout: d.HandshakeTimeout,
		MaxRefusalBytes: d.MaxRefusalBytes, MaxResponseHeaderBytes: d.MaxResponseHeaderBytes}
	res, err := c.Do(ctx, &upgrade.Request{URL: u, Header: header, Offer: offer})
	var resp *http.Response
	if res != nil {
		resp = res.Response
	}
	if err != nil {
		if errors.Is(err, ErrBadSwitch) {
			err = fmt.Errorf("negotiate: %w", err)
		} else {
			err = fmt.Errorf("negotiate: dial: %w", err)
		}
		return nil, resp, err
	}
	if res.Conn == nil {
		if resp.StatusCode < 200 || resp.StatusCode > 599 {
			// RFC 9110 §15: not a status; no refusal to hand back.
			return nil, resp, fmt.Errorf("negotiate: dial: invalid response: status %d is outside 100-599", resp.StatusCode)
		}
		return nil, resp, &Error{Status: resp.StatusCode, Reason: strings.TrimRight(string(res.Body), "\r\n"), Header: resp.Header}
	}
	return res.Conn, resp, nil
}

// Dial is [Dialer.Dial] with a zero Dialer.
func Dial(ctx context.Context, rawURL string, offer []string, header http.Header) (net.Conn, *http.Response, error) {
	var d Dialer
	return d.Dial(ctx, rawURL, offer, header)
}
