package main

import (
	"context"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/switchyard-http/switchyard/internal/httpsyntax"
	"github.com/switchyard-http/switchyard/internal/upgrade"
)

// verdict is the judgement of a response, in words.
type verdict struct {
	valid bool     // a valid 101
	title string   // one line
	notes []string // one finding per line
}

func (v verdict) String() string {
	s := "verdict: " + v.title + "\n"
	for _, n := range v.notes {
		s += "  " + n + "\n"
	}
	return s
}

// judge reads the response of e.
func judge(e *exchange) verdict {
	if e.bound != nil {
		return judgeBound(e)
	}
	if e.x != nil {
		return judgeH2(e)
	}
	if e.switched() {
		return judgeSwitch(e)
	}
	return judgeRefusal(e)
}

// judgeBound judges a response past a bound every client of the module
// reads a response under: its heads over upgrade's 64 KiB, or more than
// upgrade.MaxInterim interim responses.
func judgeBound(e *exchange) verdict {
	v := verdict{title: "invalid response: " + e.bound.Error() + ": a client gives up here"}
	if e.x != nil {
		v.notes = append(v.notes, "→ the module's HTTP/2 client (internal/xconnect) fails the stream past the same bound, as x/net's does")
	} else {
		v.notes = append(v.notes, "→ negotiate.Dial fails past the same bound, and a tunnel (package protocols) answers 502")
	}
	return v
}

const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// judgeSwitch judges a 101 by upgrade.SwitchProblems, the rule every client
// of the module applies, and a WebSocket 101 also by RFC 6455's fields.
func judgeSwitch(e *exchange) verdict {
	h := e.res.Response.Header
	v := verdict{valid: true}
	bad := func(s string) { v.valid = false; v.notes = append(v.notes, "✗ "+s) }
	good := func(s string) { v.notes = append(v.notes, "✓ "+s) }

	// Upgrade is a list, perhaps over several lines (RFC 9110 §5.6.1), as
	// every client reads it: ", websocket" names websocket, and a 101 that
	// names it anywhere is judged by RFC 6455 too.
	var chosen string
	ws := false
	l := httpsyntax.List{Lines: h["Upgrade"]}
	for t, ok := l.Next(); ok; t, ok = l.Next() {
		if chosen == "" {
			chosen = t
		}
		if n, _, _ := strings.Cut(t, "/"); strings.EqualFold(n, "websocket") {
			ws = true
		}
	}
	problems := upgrade.SwitchProblems(e.res.Response, e.offer)
	for _, p := range problems {
		bad(strings.TrimPrefix(p.Error(), upgrade.ErrBadSwitch.Error()+": "))
	}
	if len(problems) == 0 {
		good("Upgrade: " + chosen + " was offered")
		good("Connection: Upgrade")
	}
	if ws {
		want := acceptKey(e.wsKey)
		switch got := h.Get("Sec-WebSocket-Accept"); {
		case got == "":
			bad("no Sec-WebSocket-Accept (RFC 6455 §4.2.2)")
		case got != want:
			bad(fmt.Sprintf("Sec-WebSocket-Accept %q does not match the key (want %q)", got, want))
		default:
			good("Sec-WebSocket-Accept matches the key")
		}
		wsFields(e, h, good, bad)
	}
	if v.valid {
		v.title = "valid 101: switched to " + chosen
	} else {
		v.title = "invalid 101: a client must not use this connection"
	}
	return v
}

// wsFields judges the WebSocket fields a switch answers with, over either
// HTTP version: a subprotocol or extension must have been offered.
func wsFields(e *exchange, h http.Header, good, bad func(string)) {
	if p := h.Get("Sec-WebSocket-Protocol"); p != "" {
		if upgrade.HasToken(sent(e.header, "Sec-WebSocket-Protocol"), p) {
			good("subprotocol " + p + " was offered")
		} else {
			bad("subprotocol " + p + " was not offered")
		}
	}
	if x := h.Get("Sec-WebSocket-Extensions"); x != "" {
		name, _, _ := strings.Cut(x, ";")
		if upgrade.HasToken(sent(e.header, "Sec-WebSocket-Extensions"), strings.TrimSpace(name)) {
			good("extension " + x + " was offered")
		} else {
			bad("extension " + x + " was not offered")
		}
	}
}

func acceptKey(key string) string {
	sum := sha1.Sum([]byte(key + wsGUID))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// sent returns the values of the request field name, however its name was
// spelled.
func sent(h http.Header, name string) []string {
	var vs []string
	for k, v := range h {
		if strings.EqualFold(k, name) {
			vs = append(vs, v...)
		}
	}
	return vs
}

// meanings say what a refusal's status means for an upgrade.
var meanings = map[int]string{
	400: "the server found the request malformed, or a prerequisite of the protocol missing (for WebSocket: Sec-WebSocket-Key, Sec-WebSocket-Version)",
	401: "credentials are needed before the server switches (see WWW-Authenticate)",
	403: "refused by policy; for WebSocket most often a cross-origin request (check Origin)",
	404: "nothing is served at this path",
	405: "the method is not allowed here; upgrades are usually GET",
	413: "the request carried a body, which this protocol does not take",
	426: "this resource answers only after an upgrade, to a protocol listed in Upgrade",
	429: "too many requests; try later",
	500: "the server failed",
	502: "a gateway could not get a valid answer from its backend",
	503: "the server is shutting down or over a connection limit; try later",
	504: "a gateway's backend did not answer in time",
}

// h2Meanings replace meanings for an extended CONNECT, where no response
// carries Upgrade.
var h2Meanings = map[int]string{
	405: "the method is not allowed here: this resource does not take CONNECT",
	426: "this resource answers only after a switch to another protocol (over HTTP/2 no Upgrade field lists them; see the reason)",
	501: "the server does not implement CONNECT here",
}

func judgeRefusal(e *exchange) verdict {
	r := e.res.Response
	v := verdict{}
	status := fmt.Sprintf("%d %s", r.StatusCode, http.StatusText(r.StatusCode))
	switch {
	case r.StatusCode < 100 || r.StatusCode > 599:
		v.title = fmt.Sprintf("invalid response: status %03d is outside 100-599 (RFC 9110 §15): neither a refusal nor a switch (a tunnel answers 502)", r.StatusCode)
	case r.StatusCode < 300:
		v.title = "not switched (" + status + "): the server ignored the offer and answered as ordinary HTTP (RFC 9110 §7.8 allows it); nothing here switches to " + strings.Join(e.offer, " or ")
	case r.StatusCode < 400:
		v.title = "not switched (" + status + "): a redirect, to " + r.Header.Get("Location") + "; upgrades are not followed"
	default:
		m, ok := meanings[r.StatusCode]
		if hm, h2 := h2Meanings[r.StatusCode]; h2 && e.x != nil {
			m, ok = hm, true
		}
		if !ok {
			m = "the server refused the upgrade"
		}
		v.title = "refused (" + status + "): " + m
	}
	for _, f := range []string{"Upgrade", "Sec-WebSocket-Version", "Allow", "Retry-After", "WWW-Authenticate"} {
		if vals := r.Header.Values(f); len(vals) > 0 {
			v.notes = append(v.notes, "server supports: "+f+": "+strings.Join(vals, ", "))
		}
	}
	if reason := firstLines(e.res.Body, 3); reason != "" {
		v.notes = append(v.notes, "server said: "+reason)
	}
	return v
}

// firstLines is up to n non-empty lines of a body, joined, shortened.
func firstLines(body []byte, n int) string {
	var out []string
	for _, l := range strings.Split(string(body), "\n") {
		if l = strings.TrimSpace(l); l != "" && len(out) < n {
			if len(l) > 200 {
				l = l[:200] + "…"
			}
			out = append(out, strings.Map(func(r rune) rune {
				if r < ' ' || r == 0x7f {
					return '?'
				}
				return r
			}, l))
		}
	}
	return strings.Join(out, " / ")
}

// probe is the probe command.
func probe(ctx context.Context, o options, stdout, stderr io.Writer) int {
	e, err := handshake(ctx, o)
	if err != nil {
		fmt.Fprintf(stderr, "switchyard probe: %v\n", err)
		return exitError
	}
	defer e.close()
	if e.x != nil && e.switched() && offered(e.offer, "websocket") {
		// Over HTTP/2 the 200 alone shows little: whether bytes flow.
		e.checkWebSocket(o.timeout)
	}
	report(e, o.verbose, stdout)
	if judge(e).valid {
		return exitOK
	}
	return exitRefused
}

// report prints both heads as they crossed the wire, the verdict and, if
// asked, the timings.
func report(e *exchange, verbose bool, w io.Writer) {
	if e.x != nil {
		reportH2(e, verbose, w)
		return
	}
	fmt.Fprintf(w, "--- request head (%d bytes, as sent)\n", len(e.res.RequestHead))
	w.Write(e.res.RequestHead)
	heads := e.res.ResponseHeads
	if e.bound == nil {
		fmt.Fprintf(w, "--- response head (%d bytes, as received)\n", len(heads))
		w.Write(heads)
	} else {
		// What the server sent up to the bound; the reader may have taken
		// a little more.
		cut := len(heads) > upgrade.DefaultMaxResponseHeaderBytes
		if cut {
			heads = heads[:upgrade.DefaultMaxResponseHeaderBytes]
		}
		fmt.Fprintf(w, "--- response head (%d bytes as received, up to the bound)\n", len(heads))
		w.Write(heads)
		if cut {
			fmt.Fprintf(w, "\n--- (cut at %d bytes)\n", upgrade.DefaultMaxResponseHeaderBytes)
		}
	}
	fmt.Fprint(w, judge(e))
	if verbose {
		fmt.Fprintln(w, e.timings())
	}
}
