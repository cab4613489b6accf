package negotiate

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
)

// Protocol is an engine the negotiator can switch a connection to. At
// least one of Serve and Handshake must be set.
//
// Once the connection has switched, the negotiator hands it to a goroutine
// of its own and the request's handler returns: the net/http goroutine, its
// buffers and its deep stack are released while the protocol runs, and
// middleware around the mount sees the request end with its 101.
type Protocol struct {
	// Check, if set, validates the protocol's prerequisites (RFC 6455 key
	// and version, h2c's HTTP2-Settings) before the protocol is chosen. It
	// returns nil to accept, an [*Error] to refuse the request with that
	// status, or [ErrIgnore] to pass over this offer. Any other error is a
	// 400 with the error's text. Check must not read the request body
	// unless TakesBody is set.
	Check func(r *http.Request) error

	// Serve runs the protocol on the switched connection, in a goroutine
	// of its own, after the 101 (the negotiator's, or Handshake's). The
	// connection is closed when Serve returns; its error, if any, is
	// reported to OnClose.
	Serve func(c *Conn) error

	// Handshake is for engines that write their own 101 (gorilla/websocket).
	// It receives a ResponseWriter whose Hijack is the negotiator's: it
	// returns a *[Conn] (so the engine's connection is tracked, its deadlines
	// cleared and a handshake deadline set) with an empty bufio.Reader, while
	// the bytes the client sent early are read first from the Conn. The 101
	// the engine writes must carry the headers of w.Header() (Authorize's,
	// for one). To refuse before hijacking, Handshake calls [Refuse].
	//
	// With Serve set too, Handshake only switches: it returns nil once its
	// 101 is written, leaving what Serve needs on the Conn
	// ([Conn.SetEngine]), and Serve runs next. Without Serve, Handshake
	// serves the connection as well, on the request's goroutine, and the
	// connection is closed when it returns. A Handshake that returns an
	// error after hijacking has its connection closed and reported.
	Handshake func(w http.ResponseWriter, r *http.Request) error

	// Shutdown, if set, closes a connection of this protocol its own way
	// (a WebSocket close frame, an HTTP/2 GOAWAY) when the negotiator shuts
	// down; [Conn.OnShutdown] overrides it for one connection. It runs
	// once per connection, in its own goroutine; it should start the close
	// and may wait a bounded time for the peer (see [Conn.Done]). Without
	// either, the connection is simply closed.
	Shutdown func(c *Conn)

	// TakesBody reports that the protocol reads the upgrade request's body
	// itself (h2c). Otherwise a request with a body is refused (400, or 413
	// over Options.MaxBodyBytes), so that body bytes are never read as
	// protocol data.
	TakesBody bool
}

// A Registry maps Upgrade tokens to protocols. The zero value is an empty
// registry ready to use. Registration is safe while the registry serves
// requests; registrations should still be made before serving starts.
type Registry struct {
	// ServerPreference selects in the registry's order instead of the
	// client's.
	ServerPreference bool

	mu      sync.Mutex
	entries atomic.Pointer[[]*entry]
}

type entry struct {
	token   string // registered token, lower case: "foo" or "foo/2"
	name    string // lower-case name: the key of limits and stats
	version string // "" matches any offered version
	proto   Protocol
}

// Register maps token ("foo", or "foo/2" for one version) to p. "foo"
// matches an offer of foo in any version; "foo/2" only foo/2. Tokens are
// compared case-insensitively. An invalid or already registered token, or a
// Protocol with neither Serve nor Handshake, is an error.
func (g *Registry) Register(token string, p Protocol) error {
	if !validElement(token, true) {
		return fmt.Errorf("negotiate: register %q: not a token or token/version", token)
	}
	if p.Serve == nil && p.Handshake == nil {
		return fmt.Errorf("negotiate: register %q: one of Serve and Handshake must be set", token)
	}
	tok := strings.ToLower(token)
	name, version := splitProtocol(tok)
	g.mu.Lock()
	defer g.mu.Unlock()
	var old []*entry
	if p := g.entries.Load(); p != nil {
		old = *p
	}
	for _, e := range old {
		if e.token == tok {
			return fmt.Errorf("negotiate: register %q: %w", token, errDuplicate)
		}
	}
	next := append(old[:len(old):len(old)], &entry{token: tok, name: name, version: version, proto: p})
	g.entries.Store(&next)
	return nil
}

var errDuplicate = errors.New("token already registered")

// HandleFunc registers token to a protocol served by f after the
// negotiator's 101: the simplest custom protocol.
func (g *Registry) HandleFunc(token string, f func(c *Conn) error) error {
	return g.Register(token, Protocol{Serve: f})
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
	if !strings.EqualFold(name, e.name) {
		return false
	}
	return e.version == "" || strings.EqualFold(version, e.version)
}

// choice is the outcome of selection.
type choice struct {
	e     *entry
	token string       // the client's token, as offered
	next  http.Handler // the handler the mount wraps, if any
}

// selectProtocol parses the offers of an upgrade request and picks the first
// candidate, in client or server order, whose Check passes. It returns a
// zero choice and nil when nothing registered was offered (or every
// candidate ignored the offer), and the first refusal otherwise. It does not
// allocate unless a Check does or the request is malformed.
func (g *Registry) selectProtocol(r *http.Request, maxBody int64) (choice, error) {
	if err := validateConnection(r.Header["Connection"]); err != nil {
		return choice{}, err
	}
	es := g.list()
	var refusal error
	consider := func(e *entry, offer string) bool {
		err := check(e, r, maxBody)
		if err == nil {
			return true
		}
		if refusal == nil && !errors.Is(err, ErrIgnore) {
			refusal = err
		}
		return false
	}
	offers := r.Header["Upgrade"]
	if g.ServerPreference {
		// Validate the whole list first, so a malformed list is refused
		// whatever the registry holds.
		if err := validateUpgrade(offers); err != nil {
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
					if consider(e, offer) {
						return choice{e: e, token: offer}, nil
					}
					break
				}
			}
		}
		return choice{}, refusal
	}
	it := newTokenIter(offers, true)
	var found choice
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
		if e := bestMatch(es, offer); e != nil && consider(e, offer) {
			found = choice{e: e, token: offer}
		}
	}
	if found.e != nil {
		return found, nil
	}
	return choice{}, refusal
}

// bestMatch prefers a registration of the exact version over one of the
// bare name.
func bestMatch(es []*entry, offer string) *entry {
	var any *entry
	for _, e := range es {
		if !e.matches(offer) {
			continue
		}
		if e.version != "" {
			return e
		}
		if any == nil {
			any = e
		}
	}
	return any
}

func validateUpgrade(values []string) error {
	it := newTokenIter(values, true)
	for {
		_, ok, err := it.next()
		if err != nil {
			return errMalformedUpgrade
		}
		if !ok {
			return nil
		}
	}
}

// check runs a candidate's prerequisites, its own and the body rule.
func check(e *entry, r *http.Request, maxBody int64) error {
	if !e.proto.TakesBody && hasBody(r) {
		if r.ContentLength > maxBody {
			return errBodyTooLarge
		}
		return errBody
	}
	if e.proto.Check == nil {
		return nil
	}
	err := e.proto.Check(r)
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

var (
	errBody         = &Error{Status: http.StatusBadRequest, Reason: "this protocol takes no request body with the upgrade"}
	errBodyTooLarge = &Error{Status: http.StatusRequestEntityTooLarge, Reason: "request body too large, and this protocol takes none"}
)
