package echoadapter

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/http"

	"github.com/labstack/echo/v5"

	"github.com/switchyard-http/switchyard/negotiate"
)

// responseWriter is what the negotiator writes through: refusals go through
// c.Response() (so Echo's *echo.Response under it, and any middleware's
// wrapper in between, see them as they see any answer), and a successful
// Hijack commits the *echo.Response with 101 and leaves it writing to
// nothing, so that no error handler and no middleware after the switch can
// write to the hijacked connection.
type responseWriter struct {
	w      http.ResponseWriter // c.Response()
	stream bool                // the request is an HTTP/2 extended CONNECT
}

var (
	_ http.Hijacker = (*responseWriter)(nil)
	_ http.Flusher  = (*responseWriter)(nil)
)

func (w *responseWriter) Header() http.Header         { return w.w.Header() }
func (w *responseWriter) Write(p []byte) (int, error) { return w.w.Write(p) }

// WriteHeader writes code through c.Response(). The 200 that switches an
// HTTP/2 stream, and the protocol's bytes after it, go through Echo's
// *echo.Response to the writer under it, past every middleware's wrapper:
// what a switched stream carries is not a body for Gzip to encode or
// BodyDump to copy, as a hijack on HTTP/1.1 passes them by too.
func (w *responseWriter) WriteHeader(code int) {
	if w.stream && code == http.StatusOK {
		if res, _ := echo.UnwrapResponse(w.w); res != nil && !res.Committed {
			res.ResponseWriter = innermost(res.ResponseWriter)
			w.w = res
		}
	}
	w.w.WriteHeader(code)
}

// innermost returns the writer under w's wrappers, unwrapping as
// http.ResponseController does.
func innermost(w http.ResponseWriter) http.ResponseWriter {
	for {
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return w
		}
		w = u.Unwrap()
	}
}

// Flush flushes if the writers underneath can; echo.Response.Flush panics
// when they cannot.
func (w *responseWriter) Flush() { _ = http.NewResponseController(w.w).Flush() }

// Unwrap lets http.NewResponseController and echo.UnwrapResponse reach the
// writers underneath.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.w }

// Hijack takes the connection through c.Response() with
// http.NewResponseController (through every wrapper that implements Unwrap
// or Hijack, Gzip's among them). Then Echo's *echo.Response is committed
// with status 101 the way Echo commits any status — its Before hooks run,
// and may still add headers to the 101 — but onto a writer that discards
// everything.
func (w *responseWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	res, _ := echo.UnwrapResponse(w.w) // nil when a wrapper hides it
	if res != nil && res.Committed {
		return nil, nil, fmt.Errorf("echoadapter: cannot switch protocols: the response is already committed with status %d", res.Status)
	}
	conn, brw, err := http.NewResponseController(w.w).Hijack()
	if err != nil {
		if errors.Is(err, http.ErrNotSupported) {
			return nil, nil, notHijackable(w.w, err)
		}
		return nil, nil, err
	}
	if res != nil {
		res.ResponseWriter = hijacked{h: res.ResponseWriter.Header()}
		res.WriteHeader(http.StatusSwitchingProtocols)
	}
	return conn, brw, nil
}

// notHijackable is the refusal when c.Response() cannot hijack: a wiring
// fault of the server, which the negotiator answers with 500. Behind Echo,
// the cause is a middleware that replaced c.Response() with a writer that
// neither hijacks nor unwraps.
func notHijackable(w http.ResponseWriter, err error) *negotiate.Error {
	return &negotiate.Error{
		Status: http.StatusInternalServerError,
		Reason: fmt.Sprintf("cannot switch protocols: Echo's response writer (%T) does not support Hijack: "+
			"a middleware in front replaced c.Response() with a writer that implements neither Hijack nor "+
			"Unwrap() http.ResponseWriter; give that writer an Unwrap method, or skip upgrade requests in that middleware", w),
		Err: err,
	}
}

// hijacked is the *echo.Response's writer after the switch: headers still
// work (Before hooks), writes are refused without reaching net/http, whose
// writer would log "response.Write on hijacked connection".
type hijacked struct{ h http.Header }

func (h hijacked) Header() http.Header     { return h.h }
func (hijacked) WriteHeader(int)           {}
func (hijacked) Write([]byte) (int, error) { return 0, http.ErrHijacked }
