package negotiate_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/switchyard-http/switchyard/internal/testkit"
)

// nopWriter is a ResponseWriter that costs nothing, so the benchmark sees
// the middleware's own overhead.
type nopWriter struct{ h http.Header }

func (w nopWriter) Header() http.Header         { return w.h }
func (w nopWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w nopWriter) WriteHeader(int)             {}

// BenchmarkPassthrough compares a plain request through the middleware with
// the bare handler; the difference is the middleware's cost on requests that
// do not switch. Run: go test -run '^$' -bench Passthrough -benchmem ./negotiate
func BenchmarkPassthrough(b *testing.B) {
	n := testkit.NewNegotiator(b, nil)
	reg := echoRegistry()
	var calls int
	bare := http.HandlerFunc(func(http.ResponseWriter, *http.Request) { calls++ })
	plainReq := httptest.NewRequest("GET", "/", nil)
	plainReq.Header.Set("Accept", "*/*")
	plainReq.Header.Set("Connection", "keep-alive")
	otherUpgrade := httptest.NewRequest("GET", "/", nil)
	otherUpgrade.Header.Set("Connection", "Upgrade")
	otherUpgrade.Header.Set("Upgrade", "other/1, another")
	w := nopWriter{h: http.Header{}}
	for _, bc := range []struct {
		name string
		h    http.Handler
		r    *http.Request
	}{
		{"bare", bare, plainReq},
		{"middleware", n.Middleware(reg)(bare), plainReq},
		{"middleware-unregistered-upgrade", n.Middleware(reg)(bare), otherUpgrade},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				bc.h.ServeHTTP(w, bc.r)
			}
		})
	}
	if calls == 0 {
		b.Fatal("handler never called")
	}
}

func TestPassthroughDoesNotAllocate(t *testing.T) {
	n := testkit.NewNegotiator(t, nil)
	h := n.Middleware(echoRegistry())(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	plain := httptest.NewRequest("GET", "/", nil)
	other := httptest.NewRequest("GET", "/", nil)
	other.Header.Set("Connection", "Upgrade")
	other.Header.Set("Upgrade", "other")
	w := nopWriter{h: http.Header{}}
	for name, r := range map[string]*http.Request{"a plain request": plain, "an upgrade offering nothing registered": other} {
		if a := testing.AllocsPerRun(100, func() { h.ServeHTTP(w, r) }); a != 0 {
			t.Errorf("pass-through of %s allocates %v times per request, want 0", name, a)
		}
	}
}
