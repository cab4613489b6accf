package negotiate

import (
	"errors"
	"github.com/switchyard-http/switchyard/internal/httpsyntax"
	"net/http"
	"slices"
	"testing"
)

func TestTokenList(t *testing.T) {
	tests := []struct {
		name   string
		values []string
		want   []string
		bad    bool
	}{
		{"one", []string{"websocket"}, []string{"websocket"}, false},
		{"versions", []string{"foo/2, foo/1"}, []string{"foo/2", "foo/1"}, false},
		{"several lines", []string{"a", "b/1, c"}, []string{"a", "b/1", "c"}, false},
		{"ows and tabs", []string{" \ta ,\t b\t"}, []string{"a", "b"}, false},
		{"empty elements", []string{",, a ,,, b,", ""}, []string{"a", "b"}, false},
		{"only commas", []string{" , ,"}, nil, false},
		{"case kept", []string{"WebSocket"}, []string{"WebSocket"}, false},
		{"tchars", []string{"!#$%&'*+-.^_`|~09azAZ"}, []string{"!#$%&'*+-.^_`|~09azAZ"}, false},
		{"space inside", []string{"web socket"}, nil, true},
		{"empty version", []string{"foo/"}, nil, true},
		{"empty name", []string{"/2"}, nil, true},
		{"two slashes", []string{"foo/2/3"}, nil, true},
		{"quoted", []string{`"foo"`}, nil, true},
		{"semicolon", []string{"foo;q=1"}, nil, true},
		{"control char", []string{"foo\x01"}, nil, true},
		{"non-ascii", []string{"föö"}, nil, true},
		{"bad after good", []string{"a, b c"}, []string{"a"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			it := newTokenIter(tt.values, true)
			var got []string
			var err error
			for {
				tok, ok, e := it.next()
				if e != nil {
					err = e
					break
				}
				if !ok {
					break
				}
				got = append(got, tok)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("tokens of %q = %q, want %q", tt.values, got, tt.want)
			}
			if (err != nil) != tt.bad {
				t.Errorf("error for %q = %v, want malformed: %v", tt.values, err, tt.bad)
			}
		})
	}
}

func TestConnectionTokensHaveNoVersion(t *testing.T) {
	it := newTokenIter([]string{"upgrade, foo/2"}, false)
	if _, _, err := it.next(); err != nil {
		t.Fatalf("first element: %v", err)
	}
	if _, _, err := it.next(); err == nil {
		t.Errorf("Connection element foo/2 accepted, want malformed")
	}
}

func TestContainsToken(t *testing.T) {
	tests := []struct {
		values []string
		token  string
		want   bool
	}{
		{[]string{"keep-alive, Upgrade"}, "upgrade", true},
		{[]string{"keep-alive", "UPGRADE"}, "upgrade", true},
		{[]string{"keep-alive"}, "upgrade", false},
		{[]string{"upgraded"}, "upgrade", false},
		{[]string{"bad value, upgrade"}, "upgrade", true},
		{nil, "upgrade", false},
		{[]string{"Upgrade, HTTP2-Settings"}, "http2-settings", true},
	}
	for _, tt := range tests {
		if got := ContainsToken(tt.values, tt.token); got != tt.want {
			t.Errorf("ContainsToken(%q, %q) = %v, want %v", tt.values, tt.token, got, tt.want)
		}
	}
}

func TestIsUpgradeAndOffers(t *testing.T) {
	req := func(major, minor int, h http.Header) *http.Request {
		return &http.Request{ProtoMajor: major, ProtoMinor: minor, Header: h}
	}
	up := http.Header{"Connection": {"Upgrade"}, "Upgrade": {"foo/2, bar"}}
	xconnect := func(method, protocol string) *http.Request {
		return &http.Request{Method: method, ProtoMajor: 2, Header: http.Header{":protocol": {protocol}}}
	}
	tests := []struct {
		name    string
		r       *http.Request
		upgrade bool
		offers  []string
		status  int
	}{
		{"http/1.1", req(1, 1, up), true, []string{"foo/2", "bar"}, 0},
		{"http/1.0 ignored", req(1, 0, up), false, nil, 0},
		{"upgrade on http/2 ignored", req(2, 0, up), false, nil, 0},
		{"extended connect", xconnect("CONNECT", "echo/1"), true, []string{"echo/1"}, 0},
		{"extended connect, not CONNECT", xconnect("GET", "echo/1"), false, nil, 0},
		{"extended connect, a list", xconnect("CONNECT", "a, b"), true, nil, 400},
		{"extended connect, not a token", xconnect("CONNECT", "a b"), true, nil, 400},
		{"extended connect, empty", xconnect("CONNECT", ""), true, nil, 400},
		{"no connection token", req(1, 1, http.Header{"Upgrade": {"foo"}}), false, nil, 0},
		{"connection without upgrade", req(1, 1, http.Header{"Connection": {"keep-alive"}, "Upgrade": {"foo"}}), false, nil, 0},
		{"no upgrade field", req(1, 1, http.Header{"Connection": {"upgrade"}}), false, nil, 0},
		{"malformed upgrade", req(1, 1, http.Header{"Connection": {"upgrade"}, "Upgrade": {"foo bar"}}), true, nil, 400},
		{"malformed connection", req(1, 1, http.Header{"Connection": {"upgrade, a b"}, "Upgrade": {"foo"}}), true, nil, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsUpgrade(tt.r); got != tt.upgrade {
				t.Errorf("IsUpgrade = %v, want %v", got, tt.upgrade)
			}
			offers, err := Offers(tt.r)
			if !slices.Equal(offers, tt.offers) {
				t.Errorf("Offers = %q, want %q", offers, tt.offers)
			}
			var e *Error
			status := 0
			if errors.As(err, &e) {
				status = e.Status
			} else if err != nil {
				t.Fatalf("Offers error %v is not an *Error", err)
			}
			if status != tt.status {
				t.Errorf("Offers status = %d, want %d", status, tt.status)
			}
		})
	}
}

func FuzzTokenList(f *testing.F) {
	for _, s := range []string{"websocket", "foo/2, foo/1", " ,a,, b ", "a b", "foo/", `"x"`, "h2c", "\x00", "a/b/c"} {
		f.Add(s, "upgrade, HTTP2-Settings")
	}
	f.Fuzz(func(t *testing.T, upgrade, connection string) {
		it := newTokenIter([]string{upgrade, connection}, true)
		for i := 0; ; i++ {
			tok, ok, err := it.next()
			if err != nil || !ok {
				break
			}
			if i > len(upgrade)+len(connection) {
				t.Fatalf("more tokens than bytes in %q %q", upgrade, connection)
			}
			// Every token is a valid element and carries no separator.
			if !validElement(tok, true) || tok != httpsyntax.TrimOWS(tok) {
				t.Fatalf("token %q is not a valid element", tok)
			}
			if !ContainsToken([]string{upgrade, connection}, tok) {
				t.Fatalf("ContainsToken misses %q in %q %q", tok, upgrade, connection)
			}
		}
		r := &http.Request{ProtoMajor: 1, ProtoMinor: 1, Header: http.Header{"Upgrade": {upgrade}, "Connection": {connection}}}
		offers, err := Offers(r)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Status != http.StatusBadRequest {
				t.Fatalf("Offers error %v, want a 400 *Error", err)
			}
			return
		}
		for _, o := range offers {
			if !validElement(o, true) {
				t.Fatalf("offer %q not valid", o)
			}
		}
	})
}
