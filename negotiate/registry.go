package negotiate

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/switchyard-http/switchyard/internal/regname"
)

// Protocol is an engine the negotiator can switch a connection to:
// WebSocket, h2c, or a protocol of your own. Every engine has the same
// shape: Check looks at an offer, Accept prepares the switch, and the
// function Accept returns serves the switched connection.
type Protocol struct {
	// Check, if set, validates the protocol's prerequisites (RFC 6455 key
	// and version, h2c's HTTP2-Settings) before the protocol is chosen. It
	// returns nil to accept, an [*Error] to refuse the request with that
	// status, or [ErrIgnore] to pass over this offer. Any other error is a
	// 400 with the error's text; a panic is recovered, counted and answered
	// 500. Check runs for each candidate in turn, so it must not change
	// anything; it must not read the request body unless TakesBody is set.
	Check func(r *http.Request) error

	// Accept is called once the protocol is chosen and the gate has let
	// the request through (limits, Authorize), on the request's goroutine,
	// before anything is written. It may add the fields the switch
	// response carries to s.Header, and refuses by returning an error: an
	// [*Error] is answered as it is, through the negotiator's responder;
	// any other error is a 500. Otherwise it returns the function that
	// serves the connection once it has switched: that function runs in a
	// goroutine of its own, after the request's handler has returned (on
	// an HTTP/2 stream, which lives as long as its handler, on the
	// request's goroutine instead), and the connection is closed when it
	// returns (see [Conn]). The serve
	// func runs exactly once for every Accept that returned one: should
	// the switch fail after Accept (the client left, the ResponseWriter
	// cannot hijack), it runs on a Conn whose reads and writes fail, so
	// that it releases whatever Accept acquired. Required.
	Accept func(s *Switch) (serve func(c *Conn) error, err error)

	// TakesBody reports that the protocol reads the upgrade request's body
	// itself (h2c), in Accept. Otherwise a request with a body is refused
	// with 413, so that body bytes are never read as protocol data. What
	// Accept leaves of the body, unread or behind the body's Close, is
	// discarded before the switch (after the 100 Continue a client may
	// wait for), so that it is not either: the switch is refused with 413
	// when more than 1 MiB is left or the body is over the limit of an
	// http.MaxBytesHandler in front, 400 when the body is cut short, 408
	// when it comes too late.
	TakesBody bool

	// HTTP1Only reports that the protocol needs a connection of its own
	// and cannot run on an HTTP/2 stream (h2c itself; a tunnel that passes
	// TCP half-closes on): an extended CONNECT for it is refused with 400
	// and a reason that says so, and only an HTTP/1.1 Upgrade switches to
	// it. A protocol that takes a body (TakesBody) is always HTTP/1.1
	// only, since an extended CONNECT's body is the stream itself.
	HTTP1Only bool
}

// A Registry maps Upgrade tokens to protocols. The zero value is an empty
// registry ready to use. Registration is safe while the registry serves
// requests; registrations should still be made before serving starts.
type Registry struct {
	// ServerPreference selects in the registry's order instead of the
	// client's. Unlike registration, it must be set before the registry
	// serves requests: like an http.Server's fields, it is read without
	// a lock.
	ServerPreference bool

	mu      sync.Mutex
	entries atomic.Pointer[[]*entry]
}

type entry struct {
	token   string // registered token, lower case: "foo" or "foo/2"
	name    string // lower-case name: the key of limits and stats
	match   string // the token's name, which offers are matched against: name, unless registered under another (regname)
	version string // "" matches any offered version
	proto   Protocol
}

// Register maps token ("foo", or "foo/2" for one version) to p. "foo"
// matches an offer of foo in any version; "foo/2" only foo/2. Tokens are
// compared case-insensitively. Like [http.ServeMux.Handle], Register
// panics on a mistake: a token that is not token or token/version, one
// already registered, or a Protocol without Accept.
func (g *Registry) Register(token string, p Protocol) {
	g.register(token, "", p)
}

func init() {
	regname.Register = func(reg any, token, name string, p any) {
		reg.(*Registry).register(token, name, p.(Protocol))
	}
}

// register is Register, with the protocol's connections reported under
// name where it is not "" (see package regname).
func (g *Registry) register(token, name string, p Protocol) {
	if !validElement(token, true) {
		panic(fmt.Sprintf("negotiate: Register(%q): not a token or token/version", token))
	}
	if p.Accept == nil {
		panic(fmt.Sprintf("negotiate: Register(%q): the Protocol has no Accept", token))
	}
	tok := strings.ToLower(token)
	match, version := splitProtocol(tok)
	if name == "" {
		name = match
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	old := g.list()
	for _, e := range old {
		if e.token == tok {
			panic(fmt.Sprintf("negotiate: Register(%q): token already registered", token))
		}
	}
	next := append(old[:len(old):len(old)], &entry{token: tok, name: name, match: match, version: version, proto: p})
	g.entries.Store(&next)
}

// HandleFunc registers token to the simplest protocol: no check, nothing
// added to the 101, and f serving the switched connection.
func (g *Registry) HandleFunc(token string, f func(c *Conn) error) {
	if f == nil {
		panic(fmt.Sprintf("negotiate: HandleFunc(%q): nil func", token))
	}
	g.Register(token, Protocol{Accept: func(*Switch) (func(*Conn) error, error) { return f, nil }})
}

// Tokens returns the registered tokens in the registry's order, the list a
// 426 advertises.
func (g *Registry) Tokens() []string {
	es := g.list()
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.token
	}
	return out
}

func (g *Registry) list() []*entry {
	if g == nil {
		return nil
	}
	if p := g.entries.Load(); p != nil {
		return *p
	}
	return nil
}

// matches reports whether the registration accepts the offered token.
func (e *entry) matches(offer string) bool {
	name, version := splitProtocol(offer)
	if !strings.EqualFold(name, e.match) {
		return false
	}
	return e.version == "" || strings.EqualFold(version, e.version)
}

// choice is the outcome of selection.
type choice struct {
	e     *entry
	token string // the client's token, as offered

	refuser *entry // with a refusal: the registration whose Check refused
}

// selectProtocol parses the offers of an upgrade request and picks the first
// candidate, in client or server order, whose Check passes. It returns a
// zero choice and nil when nothing registered was offered (or every
// candidate ignored the offer), and the first refusal otherwise, with the
// registration whose Check refused as the choice's refuser. It does not
// allocate unless a Check does or the request is malformed.
func (g *Registry) selectProtocol(r *http.Request) (choice, error) {
	offers := r.Header["Upgrade"]
	if r.ProtoMajor != 1 {
		if _, err := extendedProtocol(r); err != nil {
			return choice{}, err
		}
		offers = r.Header[":protocol"] // one element
	} else if err := validateList(r.Header["Connection"], false); err != nil {
		return choice{}, err
	}
	es := g.list()
	var refusal error
	var refuser *entry // whose Check refused: OnRefuse names it
	var panicked *checkPanic
	consider := func(e *entry) bool {
		err := check(e, r)
		if err == nil {
			return true
		}
		if p, ok := err.(*checkPanic); ok && panicked == nil {
			panicked, refusal, refuser = p, p, e
		}
		if refusal == nil && !errors.Is(err, ErrIgnore) {
			refusal, refuser = err, e
		}
		return false
	}
	if g.ServerPreference {
		// Validate the whole list first, so a malformed list is refused
		// whatever the registry holds.
		if err := validateList(offers, true); err != nil {
			return choice{}, err
		}
		for _, e := range es {
			it := newTokenIter(offers, true)
			for {
				offer, ok, _ := it.next()
				if !ok {
					break
				}
				if e.matches(offer) {
					if consider(e) {
						return choice{e: e, token: offer}, nil
					}
					if panicked != nil {
						return choice{refuser: refuser}, panicked
					}
					break
				}
			}
		}
		return choice{refuser: refuser}, refusal
	}
	it := newTokenIter(offers, true)
	var found choice
	// A Check sees the request, not the offer, so each registration's
	// runs once however many offers match it: a long list of offers costs
	// one pass, never one Check per offer.
	var tried uint64 // by index in es, for the first 64 registrations
	for {
		offer, ok, err := it.next()
		if err != nil {
			return choice{}, errMalformedUpgrade
		}
		if !ok {
			break
		}
		if found.e != nil {
			continue // keep validating the rest of the list
		}
		e, i := bestMatch(es, offer)
		if e == nil {
			continue
		}
		if i < 64 {
			if tried&(1<<i) != 0 {
				continue
			}
			tried |= 1 << i
		}
		if consider(e) {
			found = choice{e: e, token: offer}
		}
		if panicked != nil {
			return choice{refuser: refuser}, panicked
		}
	}
	if found.e != nil {
		return found, nil
	}
	return choice{refuser: refuser}, refusal
}

// bestMatch prefers a registration of the exact version over one of the
// bare name; it returns the registration and its index in es.
func bestMatch(es []*entry, offer string) (*entry, int) {
	anyVersion, at := (*entry)(nil), -1
	for i, e := range es {
		if !e.matches(offer) {
			continue
		}
		if e.version != "" {
			return e, i
		}
		if anyVersion == nil {
			anyVersion, at = e, i
		}
	}
	return anyVersion, at
}

// checkPanic is a panic recovered from a Protocol's Check: the server
// failed, whatever else the offer was.
type checkPanic struct{ v any }

func (p *checkPanic) Error() string { return fmt.Sprintf("%v: %v", errPanic, p.v) }
func (p *checkPanic) Unwrap() error { return errPanic }

// check runs a candidate's prerequisites, its own and the body rule. A
// panic in the protocol's Check is returned as a *checkPanic.
func check(e *entry, r *http.Request) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = &checkPanic{p}
		}
	}()
	if r.ProtoMajor != 1 {
		// An extended CONNECT: its body is the stream the protocol runs on.
		if e.proto.HTTP1Only || e.proto.TakesBody {
			return &Error{Status: http.StatusBadRequest,
				Reason: "protocol " + e.token + " needs a connection of its own and cannot run on an HTTP/2 stream: offer it by an HTTP/1.1 Upgrade"}
		}
	} else if !e.proto.TakesBody && hasBody(r) {
		return errBody
	}
	if e.proto.Check == nil {
		return nil
	}
	err = e.proto.Check(r)
	if err == nil || errors.Is(err, ErrIgnore) {
		return err
	}
	var re *Error
	if errors.As(err, &re) {
		return err
	}
	return &Error{Status: http.StatusBadRequest, Reason: err.Error(), Err: err}
}

func hasBody(r *http.Request) bool {
	return r.ContentLength != 0 || len(r.TransferEncoding) > 0
}

var errBody = &Error{Status: http.StatusRequestEntityTooLarge, Reason: "request body too large: this protocol takes no request body with the upgrade"}
