package negotiate

import (
	"errors"
	"net/http"
	"strings"
	"testing"
)

func serveNothing(*Conn) error { return nil }

var nothing = Protocol{Accept: func(*Switch) (func(*Conn) error, error) { return serveNothing, nil }}

func TestRegisterPanicsOnMistakes(t *testing.T) {
	var g Registry
	g.HandleFunc("foo", serveNothing)
	g.HandleFunc("foo/2", serveNothing) // a version beside the bare name
	tests := []struct {
		token string
		p     Protocol
	}{
		{"FOO", nothing},         // duplicate, case-insensitive
		{"Foo/2", nothing},       // duplicate version
		{"", nothing},            // empty
		{"web socket", nothing},  // not a token
		{"foo/", nothing},        // empty version
		{"bar\r\nX: y", nothing}, // header injection
		{"bar", Protocol{}},      // no Accept
	}
	for _, tt := range tests {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Register(%q) did not panic", tt.token)
				}
			}()
			g.Register(tt.token, tt.p)
		}()
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("HandleFunc with a nil func did not panic")
			}
		}()
		g.HandleFunc("baz", nil)
	}()
	if got, want := strings.Join(g.Tokens(), ","), "foo,foo/2"; got != want {
		t.Errorf("Tokens = %q, want %q", got, want)
	}
}

func TestSelect(t *testing.T) {
	refuse := func(status int) func(*http.Request) error {
		return func(*http.Request) error { return &Error{Status: status, Reason: "no"} }
	}
	ignore := func(*http.Request) error { return ErrIgnore }
	type reg struct {
		token string
		check func(*http.Request) error
	}
	tests := []struct {
		name       string
		regs       []reg
		serverPref bool
		upgrade    []string
		body       int64
		want       string // registered token chosen, "" for none
		wantOffer  string
		status     int
	}{
		{name: "client order", regs: []reg{{token: "a"}, {token: "b"}}, upgrade: []string{"b, a"}, want: "b", wantOffer: "b"},
		{name: "server order", regs: []reg{{token: "a"}, {token: "b"}}, serverPref: true, upgrade: []string{"b, a"}, want: "a", wantOffer: "a"},
		{name: "unversioned matches any version", regs: []reg{{token: "foo"}}, upgrade: []string{"FOO/7"}, want: "foo", wantOffer: "FOO/7"},
		{name: "version matches only itself", regs: []reg{{token: "foo/2"}}, upgrade: []string{"foo/1, foo"}, want: ""},
		{name: "client's newest version first", regs: []reg{{token: "kv/1"}, {token: "kv/2"}}, upgrade: []string{"kv/2, kv/1"}, want: "kv/2", wantOffer: "kv/2"},
		{name: "old client still served", regs: []reg{{token: "kv/1"}, {token: "kv/2"}}, upgrade: []string{"kv/1"}, want: "kv/1", wantOffer: "kv/1"},
		{name: "exact version beats bare name", regs: []reg{{token: "foo"}, {token: "foo/2"}}, upgrade: []string{"foo/2"}, want: "foo/2", wantOffer: "foo/2"},
		{name: "never a token not offered", regs: []reg{{token: "a"}}, upgrade: []string{"b, c"}, want: ""},
		{name: "first passing candidate wins", regs: []reg{{token: "a", check: refuse(400)}, {token: "b"}}, upgrade: []string{"a, b"}, want: "b", wantOffer: "b"},
		{name: "all refuse: first refusal", regs: []reg{{token: "a", check: refuse(405)}, {token: "b", check: refuse(403)}}, upgrade: []string{"a, b"}, status: 405},
		{name: "ignored offer passes over", regs: []reg{{token: "a", check: ignore}}, upgrade: []string{"a"}, want: ""},
		{name: "ignore then refuse", regs: []reg{{token: "a", check: ignore}, {token: "b", check: refuse(426)}}, upgrade: []string{"a, b"}, status: 426},
		{name: "malformed after match", regs: []reg{{token: "a"}}, upgrade: []string{"a, b c"}, status: 400},
		{name: "malformed, server order", regs: []reg{{token: "a"}}, serverPref: true, upgrade: []string{"a, b c"}, status: 400},
		{name: "body on no-body protocol", regs: []reg{{token: "a"}}, upgrade: []string{"a"}, body: 10, status: 413},
		{name: "big body on no-body protocol", regs: []reg{{token: "a"}}, upgrade: []string{"a"}, body: 2 << 20, status: 413},
		{name: "unknown length body", regs: []reg{{token: "a"}}, upgrade: []string{"a"}, body: -1, status: 413},
		{name: "check error not *Error is 400", regs: []reg{{token: "a", check: func(*http.Request) error { return errors.New("bad key") }}}, upgrade: []string{"a"}, status: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := Registry{ServerPreference: tt.serverPref}
			for _, r := range tt.regs {
				g.Register(r.token, Protocol{Check: r.check, Accept: nothing.Accept})
			}
			r := &http.Request{ProtoMajor: 1, ProtoMinor: 1, ContentLength: tt.body,
				Header: http.Header{"Connection": {"Upgrade"}, "Upgrade": tt.upgrade}}
			c, err := g.selectProtocol(r)
			status := 0
			if err != nil {
				var e *Error
				if !errors.As(err, &e) {
					t.Fatalf("error %v is not an *Error", err)
				}
				status = e.Status
			}
			if status != tt.status {
				t.Errorf("status = %d (%v), want %d", status, err, tt.status)
			}
			got := ""
			if c.e != nil {
				got = c.e.token
			}
			if got != tt.want || c.token != tt.wantOffer {
				t.Errorf("chose %q offered as %q, want %q as %q", got, c.token, tt.want, tt.wantOffer)
			}
		})
	}
}

// browserLike is the header set of a browser's WebSocket upgrade.
func browserLike() *http.Request {
	return &http.Request{Method: "GET", ProtoMajor: 1, ProtoMinor: 1, Host: "example.com", Header: http.Header{
		"Host":                     {"example.com"},
		"Connection":               {"keep-alive, Upgrade"},
		"Pragma":                   {"no-cache"},
		"Cache-Control":            {"no-cache"},
		"User-Agent":               {"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36"},
		"Upgrade":                  {"websocket"},
		"Origin":                   {"https://example.com"},
		"Sec-Websocket-Version":    {"13"},
		"Accept-Encoding":          {"gzip, deflate, br, zstd"},
		"Accept-Language":          {"en-US,en;q=0.9"},
		"Sec-Websocket-Key":        {"dGhlIHNhbXBsZSBub25jZQ=="},
		"Sec-Websocket-Extensions": {"permessage-deflate; client_max_window_bits"},
	}}
}

// BenchmarkSelect parses and selects on a browser-like header set, with a
// registry of three protocols and a prerequisite check on the chosen one.
func BenchmarkSelect(b *testing.B) {
	var g Registry
	check := func(r *http.Request) error {
		if r.Method != http.MethodGet || len(r.Header["Sec-Websocket-Key"]) != 1 {
			return &Error{Status: 400}
		}
		return nil
	}
	for _, tok := range []string{"h2c", "echo/1"} {
		g.HandleFunc(tok, serveNothing)
	}
	g.Register("websocket", Protocol{Check: check, Accept: nothing.Accept})
	r := browserLike()
	b.ReportAllocs()
	for b.Loop() {
		if !IsUpgrade(r) {
			b.Fatal("not an upgrade")
		}
		c, err := g.selectProtocol(r)
		if err != nil || c.e == nil || c.e.name != "websocket" {
			b.Fatalf("chose %v, %v", c.e, err)
		}
	}
}

// A registration's Check runs once per request however many offers match
// it: before, each matching offer ran it again, so a long Upgrade list
// times a Check that reads a long header was quadratic.
func TestCheckRunsOncePerRegistration(t *testing.T) {
	var g Registry
	checks := 0
	g.Register("ws", Protocol{Check: func(*http.Request) error { checks++; return &Error{Status: 400} }, Accept: nothing.Accept})
	g.Register("kv/2", Protocol{Check: func(*http.Request) error { checks++; return ErrIgnore }, Accept: nothing.Accept})
	offers := strings.Repeat("ws, kv/2, ", 1000) + "ws"
	r := &http.Request{ProtoMajor: 1, ProtoMinor: 1, Header: http.Header{"Connection": {"Upgrade"}, "Upgrade": {offers}}}
	c, err := g.selectProtocol(r)
	if c.e != nil || err == nil {
		t.Fatalf("chose %v, %v; want the first refusal", c.e, err)
	}
	if checks != 2 {
		t.Errorf("Check ran %d times for 2001 offers of 2 registrations, want 2", checks)
	}
}
