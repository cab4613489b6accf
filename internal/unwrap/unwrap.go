// Package unwrap finds the ResponseWriter under a middleware's wrappers.
package unwrap

import "net/http"

// Innermost returns the writer under w's wrappers, unwrapping as
// http.ResponseController does (through each Unwrap method).
func Innermost(w http.ResponseWriter) http.ResponseWriter {
	for {
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return w
		}
		w = u.Unwrap()
	}
}
