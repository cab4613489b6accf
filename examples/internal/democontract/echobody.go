package democontract

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/switchyard-http/switchyard/internal/testkit"
)

// maxEchoBody is POST /echo's bound.
const maxEchoBody = 16 << 20

// echoBody checks POST /echo's bound over every HTTP version the program
// serves plain requests with: HTTP/1.1 and prior-knowledge HTTP/2 over
// cleartext, HTTP/2 and HTTP/1.1 over TLS.
//
//   - A body up to the bound comes back whole, at any size: HTTP/1.1
//     included, where net/http discards what the handler has not read when
//     it starts to answer unless the handler reads and writes at once.
//   - A declared length over it is answered 413 with a one-line reason,
//     before the body is read.
//   - A body of unknown length that passes it on the way is not answered
//     with a clean end: the response is broken off (net/http's
//     http.ErrAbortHandler), so the client sees an error, never a body cut
//     short that looks whole, and the program logs no panic.
func echoBody(t *testing.T, p *testkit.Program) {
	type version struct {
		name string
		set  func(*http.Protocols)
	}
	versions := []version{{"HTTP/1.1", func(ps *http.Protocols) { ps.SetHTTP1(true) }}}
	if strings.HasPrefix(p.URL, "https:") {
		versions = append(versions, version{"HTTP/2", func(ps *http.Protocols) { ps.SetHTTP2(true) }})
	} else {
		versions = append(versions, version{"HTTP/2 (prior knowledge)", func(ps *http.Protocols) { ps.SetUnencryptedHTTP2(true) }})
	}
	big := make([]byte, maxEchoBody+64<<10)
	_, _ = rand.Read(big)
	for _, v := range versions {
		protos := new(http.Protocols)
		v.set(protos)
		tr := &http.Transport{TLSClientConfig: insecure(), Protocols: protos}
		t.Cleanup(tr.CloseIdleConnections)

		for _, size := range []int{100 << 10, maxEchoBody} {
			status, got, err := postEcho(tr, p.URL, bytes.NewReader(big[:size]), int64(size))
			if err != nil || status != 200 || !bytes.Equal(got, big[:size]) {
				t.Errorf("%s: POST /echo of %d bytes: %d, %d bytes back, %v; want 200 and the body", v.name, size, status, len(got), err)
			}
		}

		// Over the bound by its Content-Length: 413 before any of the body
		// is sent (the client sends none).
		pr, pw := io.Pipe()
		status, got, err := postEcho(tr, p.URL, pr, maxEchoBody+1)
		_ = pw.Close()
		if reason := strings.TrimSuffix(string(got), "\n"); err != nil || status != http.StatusRequestEntityTooLarge ||
			reason == "" || strings.Contains(reason, "\n") {
			t.Errorf("%s: POST /echo with Content-Length %d: %d %q, %v; want 413 with a one-line reason", v.name, maxEchoBody+1, status, got, err)
		}

		// Over the bound on the way, with no length declared.
		status, got, err = postEcho(tr, p.URL, struct{ io.Reader }{bytes.NewReader(big)}, -1)
		if err == nil || len(got) > maxEchoBody {
			t.Errorf("%s: POST /echo of %d bytes of unknown length: %d, %d bytes back, err %v; want the answer broken off", v.name, len(big), status, len(got), err)
		}
	}
	for _, bad := range []string{"panic", "goroutine "} {
		if s := p.Stderr(); strings.Contains(s, bad) {
			t.Errorf("the program's standard error has %q:\n%s", bad, s)
		}
	}
}

// postEcho posts body to the program's /echo with rt and reads the whole
// answer; length -1 sends a body of unknown length. err is the exchange's
// or the answer's body's, got what arrived of that body. A body that is an
// io.Closer is closed when postEcho returns.
func postEcho(rt http.RoundTripper, base string, body io.Reader, length int64) (status int, got []byte, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Timeout)
	defer cancel()
	if c, ok := body.(io.Closer); ok {
		// The client's writer waits for body even after the exchange
		// failed: a body the test holds back ends with the exchange.
		context.AfterFunc(ctx, func() { _ = c.Close() })
	}
	req, err := http.NewRequestWithContext(ctx, "POST", base+"/echo", body)
	if err != nil {
		return 0, nil, err
	}
	req.ContentLength = length
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := rt.RoundTrip(req)
	if err != nil {
		return 0, nil, fmt.Errorf("the exchange: %w", err)
	}
	defer resp.Body.Close()
	got, err = io.ReadAll(resp.Body)
	if err != nil {
		err = fmt.Errorf("reading the answer: %w", err)
	}
	return resp.StatusCode, got, err
}
