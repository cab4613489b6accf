package echoadapter

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/switchyard-http/switchyard/internal/unwrap"
	"github.com/switchyard-http/switchyard/negotiate"
)

// responseWriter is what the negotiator writes through: refusals go through
// the echo.Response (so its status, size, committed flag and Before hooks
// are Echo's), and a successful Hijack commits the echo.Response with 101
// and leaves it writing to nothing, so that no error handler and no
// middleware after the switch can write to the hijacked connection.
type responseWriter struct {
	res    *echo.Response
	stream bool // the request is an HTTP/2 extended CONNECT
}

var (
	_ http.Hijacker = (*responseWriter)(nil)
	_ http.Flusher  = (*responseWriter)(nil)
)

func (w *responseWriter) Header() http.Header         { return w.res.Header() }
func (w *responseWriter) Write(p []byte) (int, error) { return w.res.Write(p) }

// WriteHeader commits the echo.Response with code. The 200 that switches
// an HTTP/2 stream, and the protocol's bytes after it, go to the writer
// under every wrapper of the echo.Response's writer: what a switched
// stream carries is not a body for Gzip to encode or BodyDump to copy, as
// a hijack on HTTP/1.1 passes them by too.
func (w *responseWriter) WriteHeader(code int) {
	if w.stream && code == http.StatusOK && !w.res.Committed {
		w.res.Writer = unwrap.Innermost(w.res.Writer)
	}
	w.res.WriteHeader(code)
}

// Flush flushes if the writer underneath can; echo.Response.Flush panics
// when it cannot.
func (w *responseWriter) Flush() { _ = http.NewResponseController(w.res.Writer).Flush() }

// Unwrap lets http.NewResponseController reach the writers underneath.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.res.Writer }

// Hijack takes the connection from the writer underneath (through every
// wrapper that implements Unwrap or Hijack, Gzip's among them). Then the
// echo.Response is committed with status 101 the way Echo commits any
// status — its Before hooks run, and may still add headers to the 101 — but
// onto a writer that discards everything.
func (w *responseWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if w.res.Committed {
		return nil, nil, fmt.Errorf("echoadapter: cannot switch protocols: the response is already committed with status %d", w.res.Status)
	}
	under := w.res.Writer
	conn, brw, err := http.NewResponseController(under).Hijack()
	if err != nil {
		if errors.Is(err, http.ErrNotSupported) {
			return nil, nil, notHijackable(under, err)
		}
		return nil, nil, err
	}
	w.res.Writer = hijacked{h: under.Header()}
	w.res.WriteHeader(http.StatusSwitchingProtocols)
	return conn, brw, nil
}

// notHijackable is the refusal when Echo's writer cannot hijack: a wiring
// fault of the server, which the negotiator answers with 500. Behind Echo,
// the usual cause is the deprecated middleware.Timeout, whose
// http.TimeoutHandler writer cannot hijack.
func notHijackable(w http.ResponseWriter, err error) *negotiate.Error {
	return &negotiate.Error{
		Status: http.StatusInternalServerError,
		Reason: fmt.Sprintf("cannot switch protocols: Echo's response writer (%T) does not support Hijack; "+
			"Echo's deprecated Timeout middleware (middleware.Timeout, built on http.TimeoutHandler) cannot hijack: "+
			"use middleware.ContextTimeout, or skip upgrade requests in the Timeout middleware's Skipper", w),
		Err: err,
	}
}

// hijacked is the echo.Response's writer after the switch: headers still
// work (Before hooks), writes are refused without reaching net/http, whose
// writer would log "response.Write on hijacked connection".
type hijacked struct{ h http.Header }

func (h hijacked) Header() http.Header     { return h.h }
func (hijacked) WriteHeader(int)           {}
func (hijacked) Write([]byte) (int, error) { return 0, http.ErrHijacked }
