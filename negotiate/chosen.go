package negotiate

import "net/http"

// Chosen returns the token the negotiator chose, as the client offered it
// ("foo/2"), when w is the ResponseWriter a [Protocol]'s Handshake received
// (or a writer that unwraps to it); elsewhere it returns "". An engine that
// must act on the token before it hijacks — a tunnel that offers it to a
// backend, and refuses if the backend does not switch — reads it here.
func Chosen(w http.ResponseWriter) string {
	for u := w; u != nil; {
		if sw, ok := u.(*switchWriter); ok {
			return sw.c.token
		}
		uw, ok := u.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			break
		}
		u = uw.Unwrap()
	}
	return ""
}
