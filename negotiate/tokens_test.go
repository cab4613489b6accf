package negotiate

import (
	"errors"
	"net/http"
	"slices"
	"strings"
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
		// An empty list offers nothing (RFC 9110 §5.6.1): "Upgrade: "
		// comes as one empty value, "Upgrade: , ," as one of commas.
		{"empty upgrade field", req(1, 1, http.Header{"Connection": {"upgrade"}, "Upgrade": {""}}), false, nil, 0},
		{"upgrade field of commas", req(1, 1, http.Header{"Connection": {"upgrade"}, "Upgrade": {", \t,"}}), false, nil, 0},
		{"upgrade lines of commas", req(1, 1, http.Header{"Connection": {"upgrade"}, "Upgrade": {"", ","}}), false, nil, 0},
		{"commas then an offer", req(1, 1, http.Header{"Connection": {"upgrade"}, "Upgrade": {",", " ,foo"}}), true, []string{"foo"}, 0},
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

// FuzzTokenList holds the token-list parser to RFC 9110 as a slow
// reference reads it (§5.6.1 lists: split at commas, optional whitespace
// trimmed, empty elements skipped; §5.6.2 tokens; §7.8 protocols
// "name[/version]"): the iterator yields the reference's elements in order
// and stops with an error at the first that is not one; ContainsToken
// finds each; IsUpgrade wants an Upgrade element and "upgrade" in
// Connection; and Offers returns the Upgrade elements, or nil where the
// request is no upgrade, or a 400 where either list has a bad element. An
// extended CONNECT with the same Upgrade value as :protocol offers it
// alone where it is one protocol as sent, and is refused 400 otherwise.
func FuzzTokenList(f *testing.F) {
	for _, s := range []string{"websocket", "foo/2, foo/1", " ,a,, b ", "a b", "foo/", `"x"`, "h2c", "\x00", "a/b/c", "a\t,\tb", "Upgrade"} {
		f.Add(s, "upgrade, HTTP2-Settings")
	}
	f.Add("websocket", "keep-alive,\tUpgrade ")
	f.Add("websocket", "upgrade/1")
	f.Add("websocket", "keep-alive")
	f.Add("websocket", "a b, upgrade")
	f.Add(" , \t,", "upgrade")
	f.Add("", "upgrade")
	f.Add("websocket ", "upgrade")
	f.Add(" ", "upgrAde,\"")
	f.Fuzz(func(t *testing.T, upgrade, connection string) {
		lines := []string{upgrade, connection}
		want, wantBad := referenceList(lines, true)
		it := newTokenIter(lines, true)
		var got []string
		bad := false
		for {
			tok, ok, err := it.next()
			if err != nil {
				bad = true
				break
			}
			if !ok {
				break
			}
			got = append(got, tok)
			if len(got) > len(upgrade)+len(connection) {
				t.Fatalf("more tokens than bytes in %q", lines)
			}
		}
		if !slices.Equal(got, want) || bad != wantBad {
			t.Fatalf("tokens of %q = %q (malformed: %v), want %q (malformed: %v)", lines, got, bad, want, wantBad)
		}
		for _, tok := range got {
			if !ContainsToken(lines, strings.ToUpper(tok)) {
				t.Fatalf("ContainsToken misses %q in %q", tok, lines)
			}
		}

		r := &http.Request{ProtoMajor: 1, ProtoMinor: 1, Header: http.Header{"Upgrade": {upgrade}, "Connection": {connection}}}
		offers, err := Offers(r)
		_, connBad := referenceList([]string{connection}, false)
		up, upBad := referenceList([]string{upgrade}, true)
		// An upgrade request has an Upgrade element (anything but commas
		// and whitespace) and "upgrade" among the Connection elements,
		// malformed ones skipped.
		isUpgrade := strings.Trim(upgrade, " \t,") != "" && slices.ContainsFunc(strings.Split(connection, ","), func(c string) bool { return strings.EqualFold(strings.Trim(c, " \t"), "upgrade") })
		if IsUpgrade(r) != isUpgrade {
			t.Fatalf("IsUpgrade(Upgrade: %q, Connection: %q) = %v, want %v", upgrade, connection, !isUpgrade, isUpgrade)
		}
		// An extended CONNECT offers its one :protocol, a token or
		// token/version as sent, and is refused with a 400 otherwise.
		x := &http.Request{Method: http.MethodConnect, ProtoMajor: 2, Header: http.Header{":protocol": {upgrade}}}
		xoffers, xerr := Offers(x)
		if !IsUpgrade(x) {
			t.Fatalf("IsUpgrade is false for an extended CONNECT with :protocol %q", upgrade)
		}
		if xup, xbad := referenceList([]string{upgrade}, true); !xbad && len(xup) == 1 && xup[0] == upgrade {
			if xerr != nil || !slices.Equal(xoffers, []string{upgrade}) {
				t.Fatalf("Offers(:protocol %q) = %q, %v; want it alone", upgrade, xoffers, xerr)
			}
		} else if e := (*Error)(nil); !errors.As(xerr, &e) || e.Status != http.StatusBadRequest || xoffers != nil {
			t.Fatalf("Offers(:protocol %q) = %q, %v; want a 400 *Error", upgrade, xoffers, xerr)
		}
		switch {
		case !isUpgrade:
			if offers != nil || err != nil {
				t.Fatalf("Offers(%q) = %q, %v; want nil for a request that is no upgrade", lines, offers, err)
			}
		case connBad || upBad:
			var e *Error
			if !errors.As(err, &e) || e.Status != http.StatusBadRequest {
				t.Fatalf("Offers(%q) = %q, %v; want a 400 *Error", lines, offers, err)
			}
		case err != nil || !slices.Equal(offers, up):
			t.Fatalf("Offers(%q) = %q, %v; want %q", lines, offers, err, up)
		}
	})
}

// referenceList reads field lines as RFC 9110 §5.6.1 lists of tokens
// (§5.6.2), "name/version" too where versioned (§7.8): the elements up to
// the first that is neither, and whether there was one.
func referenceList(lines []string, versioned bool) (elems []string, bad bool) {
	const tchars = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	token := func(s string) bool {
		return s != "" && strings.Trim(s, tchars) == ""
	}
	for _, line := range lines {
		for _, e := range strings.Split(line, ",") {
			e = strings.Trim(e, " \t")
			if e == "" {
				continue
			}
			name, version, slash := strings.Cut(e, "/")
			if !token(name) || slash && (!versioned || !token(version)) {
				return elems, true
			}
			elems = append(elems, e)
		}
	}
	return elems, false
}
