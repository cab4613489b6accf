package websocket

import (
	"errors"
	"net/http"
	"strings"
	"time"

	gws "github.com/gorilla/websocket"

	"github.com/switchyard-http/switchyard/internal/httpsyntax"
	"github.com/switchyard-http/switchyard/internal/stack"
	"github.com/switchyard-http/switchyard/negotiate"
)

var errNotNegotiated = errors.New("websocket: the Handshake of a websocket protocol runs only under a negotiate.Negotiator")

// handshake has gorilla write the 101 through the negotiator's writer and
// leaves gorilla's connection on the negotiator's for serve.
func (p *protocol) handshake(w http.ResponseWriter, r *http.Request) error {
	if negotiate.Chosen(w) == "" {
		// Outside a negotiator, the connection would be neither tracked nor
		// given its early bytes.
		negotiate.Refuse(w, r, &negotiate.Error{Status: http.StatusInternalServerError,
			Reason: "WebSocket handler not mounted through a negotiator", Err: errNotNegotiated})
		return errNotNegotiated
	}
	ws, err := p.upgrader.Upgrade(w, r, p.responseHeader(w.Header(), r.Header))
	if err != nil {
		return err // refused through refuse, or the 101 was not written
	}
	nc, ok := ws.NetConn().(*negotiate.Conn)
	if !ok {
		return errNotNegotiated
	}
	nc.SetEngine(ws)
	return nil
}

// refuse is the Upgrader's Error: gorilla's own refusals go through the
// negotiator's responder and hooks.
func refuse(w http.ResponseWriter, r *http.Request, status int, reason error) {
	e := &negotiate.Error{Status: status, Reason: reason.Error(), Err: reason}
	if status == http.StatusMethodNotAllowed {
		e.Header = http.Header{"Allow": {http.MethodGet}}
	}
	negotiate.Refuse(w, r, e)
}

// responseHeader is what gorilla adds to its 101: the fields of h (the
// writer's header: Authorize's cookies, say) that a 101 may carry, and the
// chosen subprotocol. Fields the handshake owns or that describe a body are
// left out, and so are invalid names and values, so that no field can
// split the response. It is nil, and costs nothing, when there is nothing
// to add.
func (p *protocol) responseHeader(h, req http.Header) http.Header {
	var out http.Header
	for k, vs := range h {
		if !passes(k) {
			continue
		}
		for _, v := range vs {
			if !httpsyntax.ValidFieldValue(v) {
				continue
			}
			if out == nil {
				out = make(http.Header, len(h)+1)
			}
			out[k] = append(out[k], v)
		}
	}
	if sub := p.subprotocol(req); sub != "" {
		if out == nil {
			out = make(http.Header, 1)
		}
		// With Upgrader.Subprotocols nil, gorilla takes the subprotocol
		// from here and writes it once.
		out["Sec-Websocket-Protocol"] = []string{sub}
	}
	return out
}

// passes reports whether a 101 built by gorilla may carry the field name.
func passes(name string) bool {
	for _, owned := range [...]string{"Upgrade", "Connection", "Transfer-Encoding", "Trailer", "X-Content-Type-Options"} {
		if strings.EqualFold(name, owned) {
			return false
		}
	}
	if hasPrefixFold(name, "Sec-Websocket-") || hasPrefixFold(name, "Content-") {
		return false
	}
	return httpsyntax.IsToken(name)
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// serve applies the limits, runs the handler (with the keep-alive, if
// configured) and closes the WebSocket politely, in the connection's own
// goroutine. Without pings it does not allocate, and its frame is small:
// the close frame is written near the top of a fresh goroutine's stack.
func (p *protocol) serve(nc *negotiate.Conn) error {
	stack.Grow4K() // gorilla needs about 4 KB: one shallow copy instead of a deep one
	ws := nc.Engine().(*gws.Conn)
	if p.opts.ReadLimit > 0 {
		ws.SetReadLimit(p.opts.ReadLimit)
	}
	if p.opts.PingInterval > 0 {
		return p.servePinging(ws, nc)
	}
	err := p.handler(ws)
	p.closeFrame(ws, err)
	return handlerResult(err)
}

// servePinging is serve with the keep-alive.
func (p *protocol) servePinging(ws *gws.Conn, nc *negotiate.Conn) error {
	pg := startPinger(ws, nc, p.opts.PingInterval, p.opts.PongTimeout)
	defer pg.stopAndWait()
	err := p.handler(ws)
	p.closeFrame(ws, err)
	if pg.stopAndWait() {
		return ErrPongTimeout
	}
	return handlerResult(err)
}

// handlerResult is what the connection reports for the handler's error:
// nil for a normal close.
func handlerResult(err error) error {
	if gws.IsCloseError(err, gws.CloseNormalClosure, gws.CloseGoingAway, gws.CloseNoStatusReceived) {
		return nil
	}
	return err
}

var (
	closeNormal   = gws.FormatCloseMessage(gws.CloseNormalClosure, "")
	closeInternal = gws.FormatCloseMessage(gws.CloseInternalServerErr, "")
)

// closeFrame ends the WebSocket with a close frame after the handler
// returns: 1000 for nil or a close from the peer, 1011 for any other error.
// If a close frame was already sent (an echo of the peer's, the read
// limit's 1009, the shutdown's 1001) gorilla writes nothing. The handler
// has returned, so this is the connection's one writer, and gorilla's
// uncompressed WriteMessage does not allocate.
func (p *protocol) closeFrame(ws *gws.Conn, err error) {
	msg := closeNormal
	if err != nil && !isCloseError(err) {
		msg = closeInternal
	}
	ws.EnableWriteCompression(false)
	_ = ws.SetWriteDeadline(time.Now().Add(p.opts.CloseTimeout))
	_ = ws.WriteMessage(gws.CloseMessage, msg)
}

// isCloseError is errors.As for *gws.CloseError, without allocating.
func isCloseError(err error) bool {
	for err != nil {
		if _, ok := err.(*gws.CloseError); ok {
			return true
		}
		err = errors.Unwrap(err)
	}
	return false
}

// shutdown is the protocol's Shutdown: a 1001 close frame, then a bounded
// wait for the handler to end (it does when its read returns the peer's
// close), then the connection is closed.
func (p *protocol) shutdown(nc *negotiate.Conn) {
	ws, _ := nc.Engine().(*gws.Conn)
	if ws == nil {
		_ = nc.Close()
		return
	}
	deadline := time.Now().Add(p.opts.CloseTimeout)
	_ = ws.WriteControl(gws.CloseMessage, gws.FormatCloseMessage(gws.CloseGoingAway, "server shutting down"), deadline)
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case <-nc.Done():
	case <-t.C:
		_ = nc.Close()
	}
}
