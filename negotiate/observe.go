package negotiate

import (
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"time"
)

// What the negotiator tells observers (metrics, admin pages) beyond the
// connection itself: why a connection ended, what became of an upgrade
// request that did not switch, and which connections are live now.

// How a switched connection ended ([ConnInfo].CloseReason, in OnClose).
const (
	// CloseNormal: the protocol returned nil, or an error that means the
	// peer ended the stream (io.EOF, net.ErrClosed).
	CloseNormal = "normal"
	// CloseError: the protocol returned another error or panicked, or
	// the 101 could not be written ([ConnInfo].Err says which).
	CloseError = "error"
	// CloseShutdown: [Negotiator.Shutdown] asked the connection to end
	// (cancelled its [Conn.Context]) before its protocol returned, and
	// the protocol returned before the shutdown's context ended, whatever
	// it returned: a graceful end. A connection that switched while the
	// negotiator was shutting down is asked at once.
	CloseShutdown = "shutdown"
	// CloseForced: the protocol had not returned when the shutdown's
	// context ended, and the negotiator closed the connection under it
	// (reset it, on an HTTP/2 stream).
	CloseForced = "forced"
)

// The bits of Conn.ending.
const (
	shutdownAsked  = 1 << iota // Shutdown cancelled the Context
	shutdownForced             // Shutdown closed it at its context's end
)

// closeReason classifies a connection's end by its ending bits as its
// protocol returned, and the error it returned.
func closeReason(ending uint32, err error) string {
	switch {
	case ending&shutdownForced != 0:
		return CloseForced
	case ending&shutdownAsked != 0:
		return CloseShutdown
	case err != nil:
		return CloseError
	}
	return CloseNormal
}

// RefusalInfo describes an upgrade request that did not switch, to the
// OnRefuse hook: the request was refused (a 4xx, or a 503 while shutting
// down or over a limit) or the switch failed on the server's side. An
// Endpoint's 426 to a request that offered nothing is reported too.
type RefusalInfo struct {
	// Name is the registered name (lower case, without version) of the
	// protocol chosen, or of the one whose Check refused the offer; "" when
	// no registered protocol was concerned: a malformed Upgrade or
	// Connection list, an Endpoint's 426 for an offer it does not have
	// or for a request that offered nothing.
	// It never holds what the client offered.
	Name string
	// Status is the status answered, 0 when nothing was: a middleware in
	// front had hijacked the connection first (http.ErrHijacked), the
	// Responder panicked (net/http closes the connection), or a
	// shutdown's context ended during the hijack (the connection is
	// closed without an answer).
	Status int
	// Failed reports that the server failed rather than refused: Accept
	// failed with an error that is not an [*Error], Check, Authorize,
	// Accept or the Responder panicked, or the connection could not be
	// hijacked, or an [*Error] had a status no final answer has (under 200
	// or over 599). Those are answered 500 (or the status of the hijack's
	// own [*Error]), except as Status says. Any other [*Error] from Check,
	// Authorize or Accept is a refusal, whatever its status, and so is any
	// other error from Authorize (a 403).
	Failed bool
}

// logRefusal logs an upgrade request that did not switch, at Info, with
// the same keys whether it was answered (status) or not (0).
func (n *Negotiator) logRefusal(r *http.Request, status int, reason string) {
	if l := n.logger(slog.LevelInfo); l != nil {
		offer := r.Header.Get("Upgrade")
		if r.ProtoMajor != 1 {
			offer = r.Header.Get(":protocol")
		}
		l.Info("negotiate: upgrade refused", "status", status, "reason", reason,
			"remote", r.RemoteAddr, "path", r.URL.Path, "upgrade", offer)
	}
}

func (n *Negotiator) reportRefusal(r *http.Request, p *entry, status int, failed bool) {
	if n.opts.OnRefuse == nil {
		return
	}
	ri, token := RefusalInfo{Status: status, Failed: failed}, ""
	if p != nil {
		ri.Name, token = p.name, p.token
	}
	n.onRefuse(r, token, ri)
}

// isError reports whether err is (or wraps) an [*Error]: a refusal by
// intent, not a failure.
func isError(err error) bool {
	var e *Error
	return errors.As(err, &e)
}

// Conns lists the live switched connections, oldest first, as
// [Conn.Info] describes them: token, name, transport, remote address,
// start, handshake, duration and bytes so far. It holds the negotiator's
// lock only to copy the set (switches and closes wait that long, never
// for the descriptions), and reads each connection's counters without
// stopping it: a read or write is counted once it has returned, so the
// client may already have what BytesOut does not count yet. A connection
// that is closing may still be listed; one that has just switched may not
// be yet.
func (n *Negotiator) Conns() []ConnInfo {
	n.mu.Lock()
	cs := make([]*Conn, 0, len(n.live))
	for c := range n.live {
		cs = append(cs, c)
	}
	n.mu.Unlock()
	out := make([]ConnInfo, len(cs))
	for i, c := range cs {
		out[i] = c.Info()
	}
	slices.SortFunc(out, func(a, b ConnInfo) int { return a.Start.Compare(b.Start) })
	return out
}

// epoch is the origin of mark's microseconds.
var epoch = time.Now()

// mark is the start of a handshake, kept in a Conn's hs until the switch:
// microseconds since epoch, modulo 2^32, so that a Conn keeps 4 bytes
// (where its fields leave room) instead of a 24-byte time.Time. The
// difference switched takes is exact across the wrap, for any handshake
// under 71 minutes. 0 means no mark.
func mark() uint32 { return uint32(time.Since(epoch)/time.Microsecond) | 1 }

// switched turns the mark into the handshake's duration once c.start is
// set; a Conn made without a mark reports a handshake of 0.
func (c *Conn) switched() {
	if c.hs != 0 {
		c.hs = uint32(c.start.Sub(epoch)/time.Microsecond) - c.hs
	}
}
