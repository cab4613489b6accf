package upgrade_test

import (
	"context"
	"errors"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-http/switchyard/internal/testkit"
	"github.com/switchyard-http/switchyard/internal/upgrade"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// The one rule for a valid 101, as every client of the module applies it:
// SwitchProblems lists each way a 101 breaks it, CheckSwitch returns the
// first, and each wraps ErrBadSwitch.
func TestCheckSwitch(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		upgrade  []string // the 101's Upgrade lines
		conn     []string // its Connection lines
		offer    []string
		problems []string // what each problem says, in order; none for a valid 101
	}{
		{"valid", []string{"echo/1"}, []string{"Upgrade"}, []string{"echo/1"}, nil},
		{"token in another case", []string{"ECHO/1"}, []string{"upgrade"}, []string{"echo/1"}, nil},
		{"the second offer", []string{"echo/1"}, []string{"Upgrade"}, []string{"echo/2", "echo/1"}, nil},
		{"Connection lists more", []string{"echo/1"}, []string{"keep-alive, Upgrade"}, []string{"echo/1"}, nil},
		{"Connection over two lines", []string{"echo/1"}, []string{"keep-alive", "upgrade"}, []string{"echo/1"}, nil},
		{"not offered", []string{"h2c"}, []string{"Upgrade"}, []string{"echo/1"}, []string{`Upgrade "h2c" was not offered`}},
		{"two Upgrade lines", []string{"echo/1", "h2c"}, []string{"Upgrade"}, []string{"echo/1", "h2c"},
			[]string{`Upgrade must name one protocol, got "echo/1, h2c"`}},
		{"two protocols on one line", []string{"echo/1, h2c"}, []string{"Upgrade"}, []string{"echo/1", "h2c"},
			[]string{`Upgrade must name one protocol, got "echo/1, h2c"`}},
		{"one protocol twice", []string{"echo/1", "echo/1"}, []string{"Upgrade"}, []string{"echo/1"},
			[]string{"Upgrade must name one protocol"}},
		{"no Upgrade", nil, []string{"Upgrade"}, []string{"echo/1"}, []string{`Upgrade must name one protocol, got ""`}},
		{"no Connection", []string{"echo/1"}, nil, []string{"echo/1"}, []string{"Connection does not list upgrade"}},
		{"Connection without upgrade", []string{"echo/1"}, []string{"keep-alive, upgraded"}, []string{"echo/1"},
			[]string{"Connection does not list upgrade"}},
		{"everything wrong", []string{"h2c"}, []string{"close"}, []string{"echo/1"},
			[]string{`Upgrade "h2c" was not offered`, "Connection does not list upgrade"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := &http.Response{StatusCode: http.StatusSwitchingProtocols, Header: http.Header{}}
			if tc.upgrade != nil {
				resp.Header["Upgrade"] = tc.upgrade
			}
			if tc.conn != nil {
				resp.Header["Connection"] = tc.conn
			}
			problems := upgrade.SwitchProblems(resp, tc.offer)
			if len(problems) != len(tc.problems) {
				t.Fatalf("SwitchProblems = %q, want %d problems: %q", problems, len(tc.problems), tc.problems)
			}
			for i, p := range problems {
				if !errors.Is(p, upgrade.ErrBadSwitch) || !strings.Contains(p.Error(), tc.problems[i]) {
					t.Errorf("problem %d = %v, want ErrBadSwitch saying %q", i, p, tc.problems[i])
				}
			}
			err := upgrade.CheckSwitch(resp, tc.offer)
			if len(problems) == 0 && err != nil || len(problems) > 0 && (err == nil || err.Error() != problems[0].Error()) {
				t.Errorf("CheckSwitch = %v, want the first problem (%v)", err, problems)
			}
		})
	}
}

func TestHasToken(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		lines []string
		tok   string
		want  bool
	}{
		{[]string{"Upgrade"}, "upgrade", true},
		{[]string{"keep-alive, UPGRADE"}, "upgrade", true},
		{[]string{"keep-alive", " upgrade "}, "upgrade", true},
		{[]string{"chat.v1,chat.v2"}, "chat.v2", true},
		{nil, "upgrade", false},
		{[]string{"upgraded, keep-alive"}, "upgrade", false},
		{[]string{"up grade"}, "upgrade", false},
	} {
		if got := upgrade.HasToken(tc.lines, tc.tok); got != tc.want {
			t.Errorf("HasToken(%q, %q) = %v, want %v", tc.lines, tc.tok, got, tc.want)
		}
	}
}

func TestHead(t *testing.T) {
	t.Parallel()
	u := mustURL(t, "ws://example.com:8080/p?q=1")
	head := string(upgrade.Head(&upgrade.Request{
		URL:        u,
		Header:     http.Header{"X-Evil": {"a\r\nInjected: yes"}, "Upgrade": {"ignored"}},
		Offer:      []string{"echo/2", "echo/1"},
		Connection: []string{"HTTP2-Settings"},
	}))
	// Host first, the other fields sorted; CR and LF in values replaced.
	want := "GET /p?q=1 HTTP/1.1\r\nHost: example.com:8080\r\nConnection: Upgrade, HTTP2-Settings\r\n" +
		"Upgrade: echo/2, echo/1\r\nX-Evil: a  Injected: yes\r\n\r\n"
	if head != want {
		t.Errorf("head:\n%q\nwant\n%q", head, want)
	}
}

// A Host field in the header is the Host the request names, as with
// gorilla's Dialer, unless Request.Host is set; the URL still says where
// to dial. The Host line is sent once, first, on one line.
func TestHeadHost(t *testing.T) {
	t.Parallel()
	u := mustURL(t, "ws://127.0.0.1:8080/p")
	for _, tc := range []struct {
		name   string
		host   string // Request.Host
		header http.Header
		want   string
	}{
		{"none", "", nil, "127.0.0.1:8080"},
		{"in the header", "", http.Header{"Host": {"example.com"}}, "example.com"},
		{"two in the header", "", http.Header{"Host": {"example.com", "other.example"}}, "example.com"},
		{"empty in the header", "", http.Header{"Host": {""}}, "127.0.0.1:8080"},
		{"Request.Host first", "api.example", http.Header{"Host": {"example.com"}}, "api.example"},
		{"on one line", "", http.Header{"Host": {"example.com\r\nX-Injected: yes"}}, "example.comX-Injected: yes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			head := string(upgrade.Head(&upgrade.Request{URL: u, Host: tc.host, Header: tc.header, Offer: []string{"echo/1"}}))
			want := "GET /p HTTP/1.1\r\nHost: " + tc.want + "\r\nConnection: Upgrade\r\nUpgrade: echo/1\r\n\r\n"
			if head != want {
				t.Errorf("head:\n%q\nwant\n%q", head, want)
			}
		})
	}
	// And on the wire: the server reads the header's Host, from a
	// connection to the URL's address.
	srv := testkit.NewTCPServer(t, func(c net.Conn, _ string) {
		_, _ = io.WriteString(c, "HTTP/1.1 426 Upgrade Required\r\nContent-Length: 0\r\n\r\n")
	})
	c := upgrade.Client{Timeout: testkit.Timeout}
	res, err := c.Do(context.Background(), &upgrade.Request{URL: mustURL(t, srv.URL()), Header: http.Header{"Host": {"example.com"}}, Offer: []string{"echo/1"}})
	if err != nil || res.Response.StatusCode != http.StatusUpgradeRequired {
		t.Fatalf("Do = %v, %v; want the server's 426", res, err)
	}
	if heads := srv.Heads(); len(heads) != 1 || !strings.HasPrefix(heads[0], "GET / HTTP/1.1\r\nHost: example.com\r\n") || strings.Count(heads[0], "Host:") != 1 {
		t.Errorf("the server read %q, want one head with Host: example.com", heads)
	}
}

// A user and password in the URL are sent as Basic authorization, as
// net/http's client and curl send them, unless the header has an
// Authorization field of its own (audit: they were dropped silently).
func TestHeadUserinfo(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, url string
		header    http.Header
		want      string // the Authorization line, "" for none
	}{
		{"user and password", "ws://alice:s3cret@127.0.0.1:8080/p", nil, "Authorization: Basic YWxpY2U6czNjcmV0\r\n"},
		{"user alone", "ws://alice@127.0.0.1:8080/p", nil, "Authorization: Basic YWxpY2U6\r\n"},
		{"escaped", "ws://al%40ice:p%3Ass@127.0.0.1:8080/p", nil, "Authorization: Basic YWxAaWNlOnA6c3M=\r\n"},
		{"the header's own", "ws://alice:s3cret@127.0.0.1:8080/p", http.Header{"Authorization": {"Bearer t"}}, "Authorization: Bearer t\r\n"},
		{"none", "ws://127.0.0.1:8080/p", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			head := string(upgrade.Head(&upgrade.Request{URL: mustURL(t, tc.url), Header: tc.header, Offer: []string{"echo/1"}}))
			want := "GET /p HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n" + tc.want + "Connection: Upgrade\r\nUpgrade: echo/1\r\n\r\n"
			if head != want {
				t.Errorf("head:\n%q\nwant\n%q", head, want)
			}
		})
	}
}

func TestAddr(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		url, addr string
		secure    bool
	}{
		{"http://example.com/", "example.com:80", false},
		{"ws://example.com:8080/", "example.com:8080", false},
		{"https://example.com/", "example.com:443", true},
		{"wss://[::1]/", "[::1]:443", true},
	} {
		addr, secure, err := upgrade.Addr(mustURL(t, tc.url))
		if err != nil || addr != tc.addr || secure != tc.secure {
			t.Errorf("Addr(%s) = %q, %v, %v; want %q, %v", tc.url, addr, secure, err, tc.addr, tc.secure)
		}
	}
	for _, bad := range []string{"ftp://example.com/", "http:///p"} {
		if _, _, err := upgrade.Addr(mustURL(t, bad)); err == nil {
			t.Errorf("Addr(%s) = nil error, want one", bad)
		}
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// The response heads are read under a bound (issue 12, defect 11): their
// bytes together, interim heads included, up to MaxResponseHeaderBytes,
// and at most eight interim responses before the final one. A server past
// either gets an error saying which, as soon as it is past, not at the
// timeout; the bounds themselves are allowed.
func TestResponseHeadBounds(t *testing.T) {
	t.Parallel()
	const limit = 1024
	final := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo/1\r\nConnection: Upgrade\r\n"
	// padded is a final 101 head of exactly n bytes.
	padded := func(n int) string {
		pad := n - len(final) - len("X-Pad: \r\n\r\n")
		return final + "X-Pad: " + strings.Repeat("p", pad) + "\r\n\r\n"
	}
	continue100 := "HTTP/1.1 100 Continue\r\n\r\n"
	for _, tc := range []struct {
		name, response string
		max            int64 // 0: the default
		err            error // nil: switched
		says           string
	}{
		{"head at the limit", padded(limit), limit, nil, ""},
		{"head a byte over", padded(limit + 1), limit, upgrade.ErrHeadTooLarge, "response heads are over 1024 bytes"},
		{"interim heads count", continue100 + padded(limit-len(continue100)), limit, nil, ""},
		{"interim heads count, a byte over", continue100 + padded(limit-len(continue100)+1), limit, upgrade.ErrHeadTooLarge, "over 1024 bytes"},
		{"endless header line", final + "X-Endless: " + strings.Repeat("a", 4<<20), 0, upgrade.ErrHeadTooLarge, "over 65536 bytes"},
		{"endless status line", "HTTP/1.1 101 " + strings.Repeat("a", 4<<20), 0, upgrade.ErrHeadTooLarge, "over 65536 bytes"},
		{"eight interim responses", strings.Repeat(continue100, 8) + final + "\r\n", 0, nil, ""},
		{"nine interim responses", strings.Repeat(continue100, 9) + final + "\r\n", 0, upgrade.ErrTooManyInterim, "more than 8 interim (1xx) responses"},
		{"a flood of 100 Continue", strings.Repeat(continue100, 1000), 0, upgrade.ErrTooManyInterim, "more than 8"},
		// The read stops a buffer past the bound, which must not overflow.
		{"the largest bound", padded(limit), math.MaxInt64, nil, ""},
		{"a bound a buffer short of the largest", padded(limit), math.MaxInt64 - 100, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := testkit.NewTCPServer(t, func(c net.Conn, _ string) {
				if _, err := io.WriteString(c, tc.response+"behind"); err == nil {
					_, _ = io.Copy(io.Discard, c) // then wait: only the bound ends the exchange
				}
			})
			c := upgrade.Client{MaxResponseHeaderBytes: tc.max, Timeout: testkit.Timeout}
			res, err := c.Do(context.Background(), &upgrade.Request{URL: mustURL(t, srv.URL()), Offer: []string{"echo/1"}})
			if tc.err == nil {
				if err != nil {
					t.Fatalf("Do = %v, want a switch", err)
				}
				defer res.Conn.Close()
				if got := testkit.ReadAll(t, io.LimitReader(res.Conn, 6)); got != "behind" {
					t.Errorf("read %q behind the 101, want %q", got, "behind")
				}
				return
			}
			if !errors.Is(err, tc.err) || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("Do = %v, want %v saying %q", err, tc.err, tc.says)
			}
			if res == nil || res.Conn != nil || res.Response != nil {
				t.Errorf("Result = %+v, want one with no connection and no final response", res)
			}
			if max := tc.max; max > 0 && int64(len(res.ResponseHeads)) > max+4096 {
				t.Errorf("kept %d bytes of heads, want at most the bound and a buffer", len(res.ResponseHeads))
			}
		})
	}
}

// cancelAtHead is a client connection that cancels the exchange's context
// in the Read that brings the end of the response head: the caller gives
// up just as the 101 arrives.
type cancelAtHead struct {
	net.Conn
	cancel context.CancelFunc
	seen   []byte
	closed chan struct{}
}

func (c *cancelAtHead) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.seen = append(c.seen, p[:n]...)
	if strings.Contains(string(c.seen), "\r\n\r\n") {
		c.cancel()
	}
	return n, err
}

func (c *cancelAtHead) Close() error {
	select {
	case <-c.closed:
	default:
		close(c.closed)
	}
	return c.Conn.Close()
}

// cancellingClient is a Client whose connection cancels with cancel once a
// response head has arrived; *wrapped is that connection once dialed.
func cancellingClient(cancel context.CancelFunc) (c upgrade.Client, wrapped **cancelAtHead) {
	wrapped = new(*cancelAtHead)
	c = upgrade.Client{Timeout: testkit.Timeout, NetDial: func(ctx context.Context, network, addr string) (net.Conn, error) {
		nc, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		*wrapped = &cancelAtHead{Conn: nc, cancel: cancel, closed: make(chan struct{})}
		return *wrapped, nil
	}}
	return c, wrapped
}

// A context that ends during the exchange fails it, even when the 101 has
// been read by then: Do returns the context's error and closes the
// connection, never a connection whose deadline the context's end is
// about to set in the past (audit: the deadline landed after Do cleared
// it, and every read of the "switched" connection failed). A context that
// ends after Do returned does not touch the connection, as with
// net.Dialer.
func TestDoContextEnds(t *testing.T) {
	t.Parallel()
	srv := testkit.NewTCPServer(t, func(c net.Conn, _ string) {
		if _, err := io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo/1\r\nConnection: Upgrade\r\n\r\nbehind"); err == nil {
			_, _ = io.Copy(c, c) // echo until the client closes
		}
	})
	t.Run("at the 101", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		c, wrapped := cancellingClient(cancel)
		res, err := c.Do(ctx, &upgrade.Request{URL: mustURL(t, srv.URL()), Offer: []string{"echo/1"}})
		if err == nil {
			defer res.Conn.Close()
			t.Fatalf("Do = a switched connection after its context ended at the 101, want context.Canceled")
		}
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Do = %v, want context.Canceled", err)
		}
		if res != nil && res.Conn != nil {
			t.Errorf("Do returned an error and a connection")
		}
		select {
		case <-(*wrapped).closed:
		default:
			t.Error("Do failed without closing the connection")
		}
	})
	t.Run("after Do", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(context.Background())
		res, err := (&upgrade.Client{Timeout: testkit.Timeout}).Do(ctx, &upgrade.Request{URL: mustURL(t, srv.URL()), Offer: []string{"echo/1"}})
		cancel()
		if err != nil {
			t.Fatalf("Do = %v, want a switch", err)
		}
		defer res.Conn.Close()
		_ = res.Conn.SetDeadline(time.Now().Add(testkit.Timeout))
		if _, err := io.WriteString(res.Conn, "ping"); err != nil {
			t.Fatal(err)
		}
		if got := testkit.ReadAll(t, io.LimitReader(res.Conn, int64(len("behindping")))); got != "behindping" {
			t.Errorf("read %q after the context ended, want %q", got, "behindping")
		}
	})
}

// A refusal whose head has arrived is the answer, even when its body is
// slow or never ends: Timeout passing while the body is read ends the
// body, and Do returns the refusal with what arrived, without an error
// (audit: the tunnel answered 504, "the backend did not answer in time",
// to a backend whose 403 came at once). A context the caller ends while
// the body is read still fails Do, as the doc says.
//
// The answer has arrived before Do starts its 300 ms: Timeout counts from
// the dial, and a server that a loaded machine did not run within it
// failed Do before the head (once in 5 runs of the package under -race).
func TestRefusalBodyUnfinished(t *testing.T) {
	t.Parallel()
	holding := func(response string) *testkit.TCPServer { return testkit.Holding(t, response) }
	for _, tc := range []struct {
		name, response string
		status         int
		body           string
	}{
		{"short body", "HTTP/1.1 403 Forbidden\r\nContent-Length: 100\r\n\r\nshort", 403, "short"},
		{"endless event stream", "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\ndata: hi\n\n", 200, "data: hi\n\n"},
		{"no body yet", "HTTP/1.1 426 Upgrade Required\r\nUpgrade: echo/2\r\nTransfer-Encoding: chunked\r\n\r\n", 426, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := holding(tc.response)
			c := upgrade.Client{Timeout: 300 * time.Millisecond, NetDial: testkit.Answered(t, srv, len(tc.response))}
			res, err := c.Do(context.Background(), &upgrade.Request{URL: mustURL(t, srv.URL()), Offer: []string{"echo/1"}})
			if err != nil {
				t.Fatalf("Do = %v, want the refusal", err)
			}
			if res.Conn != nil || res.Response == nil || res.Response.StatusCode != tc.status || string(res.Body) != tc.body {
				t.Errorf("Result = %+v with body %q, want %d with %q and no connection", res, res.Body, tc.status, tc.body)
			}
		})
	}
	t.Run("the caller cancels", func(t *testing.T) {
		t.Parallel()
		srv := holding("HTTP/1.1 403 Forbidden\r\nContent-Length: 100\r\n\r\nshort")
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		c, wrapped := cancellingClient(cancel)
		res, err := c.Do(ctx, &upgrade.Request{URL: mustURL(t, srv.URL()), Offer: []string{"echo/1"}})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Do = %v, want context.Canceled: the caller gave up", err)
		}
		if res != nil && res.Conn != nil {
			t.Error("Do returned a connection")
		}
		select {
		case <-(*wrapped).closed:
		default:
			t.Error("Do failed without closing the connection")
		}
	})
}
