package testkit

import (
	"context"
	"io"
	"net/http"
	"testing"
)

// Do sends a plain HTTP/1.1 request with the header fields h and body (nil:
// none) on a connection of its own, closed afterwards so that nothing
// lingers for the leak check, and reads the whole response; all of it is
// bounded by Timeout. It fails the test if the exchange fails.
func Do(t testing.TB, method, url string, h http.Header, body io.Reader) (*http.Response, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range h {
		req.Header[k] = vs
	}
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, url, err)
	}
	return resp, string(b)
}
