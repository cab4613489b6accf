package negotiate

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
)

// Error is a refusal: the status, the one-line reason and the headers the
// client is answered with. Every refusal the negotiator writes is an *Error,
// and [Dial] returns one when a server does not switch. Use [errors.As] to
// get it from a wrapped error.
type Error struct {
	// Status is the HTTP status code, 4xx for bad requests, 503 for
	// draining and limits. A refusal's must be a final status, 200 to
	// 599: any other (a Status left out) is answered 500 as the server's
	// failure.
	Status int
	// Reason is one line of plain text for the response body. On the client
	// side it holds the body the server sent.
	Reason string
	// Header holds fields the response carries besides the defaults, such
	// as Upgrade on a 426, Allow on a 405 or Retry-After on a 503.
	Header http.Header
	// Err is the underlying cause, if any.
	Err error
}

func (e *Error) Error() string {
	s := "negotiate: " + strconv.Itoa(e.Status)
	if text := http.StatusText(e.Status); text != "" {
		s += " " + text
	}
	if e.Reason != "" {
		s += ": " + e.Reason
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Refusal builds an *Error with a status, a reason and optional header
// pairs ("Allow", "GET"). It is meant for protocol Check functions.
func Refusal(status int, reason string, headerPairs ...string) *Error {
	e := &Error{Status: status, Reason: reason}
	if len(headerPairs) > 0 {
		e.Header = make(http.Header, len(headerPairs)/2)
		for i := 0; i+1 < len(headerPairs); i += 2 {
			e.Header.Add(headerPairs[i], headerPairs[i+1])
		}
	}
	return e
}

// ErrIgnore, returned (or wrapped) by a [Protocol]'s Check, declines the offer
// without refusing the request: the next offer is tried, and if none is
// chosen the request goes on as ordinary HTTP/1.1, as RFC 9110 §7.8 lets a
// server ignore Upgrade. h2c uses it for bad HTTP2-Settings. An extended
// CONNECT (HTTP/2) goes on as the CONNECT it is, as one for a token the
// registry does not have: the next handler of a Middleware must answer it
// with a 4xx (see "HTTP/2: extended CONNECT" in the package doc). Only Check
// may return it: from Accept it is an error like any other (500).
var ErrIgnore = errors.New("negotiate: offer ignored")

var (
	errMalformed           = errors.New("negotiate: malformed token list")
	errMalformedUpgrade    = &Error{Status: http.StatusBadRequest, Reason: "malformed Upgrade header: every element must be a token or token/version", Err: errMalformed}
	errMalformedConnection = &Error{Status: http.StatusBadRequest, Reason: "malformed Connection header: every element must be a token", Err: errMalformed}
	errMalformedProtocol   = &Error{Status: http.StatusBadRequest, Reason: "malformed :protocol: an extended CONNECT names one protocol, a token or token/version", Err: errMalformed}
	errAsterisk            = &Error{Status: http.StatusBadRequest, Reason: "the request target * is only for OPTIONS"}
)

// asError turns any error into the *Error the client is answered with; an
// error that is not an *Error gets the fallback status.
func asError(err error, fallback int) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Status: fallback, Reason: http.StatusText(fallback), Err: err}
}

// DefaultResponder writes err as plain text: err.Header, the status and
// err.Reason on one line. It is the responder of an [Options] whose
// Responder is nil. The negotiator has already set Connection: close.
func DefaultResponder(w http.ResponseWriter, r *http.Request, err *Error) {
	h := w.Header()
	for k, vs := range err.Header {
		if k != "Connection" { // set by the negotiator
			h[k] = append(h[k][:0:0], vs...)
		}
	}
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Del("Content-Length")
	w.WriteHeader(err.Status)
	reason := err.Reason
	if reason == "" {
		reason = http.StatusText(err.Status)
	}
	_, _ = w.Write([]byte(oneLine(reason) + "\n"))
}

// oneLine keeps a reason to one line, so that no client-supplied text can
// forge a response line.
func oneLine(s string) string {
	if strings.ContainsAny(s, "\r\n") {
		s = strings.NewReplacer("\r", " ", "\n", " ").Replace(s)
	}
	return s
}
