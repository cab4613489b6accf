package negotiate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Options configures a [Negotiator]. The zero value is usable: every field
// documents its default.
type Options struct {
	// MaxConns limits the switched connections of all mounts together
	// (connections being switched count). Over it a request is refused
	// with 503 and Retry-After. 0 means no limit.
	MaxConns int

	// ProtocolMaxConns limits connections per protocol name ("websocket",
	// "echo": the token in lower case, without version), with 503 and
	// Retry-After over it. A name that is missing has no limit; a limit
	// of 0 refuses every request for that protocol. Two names that differ
	// only in case are an error.
	ProtocolMaxConns map[string]int

	// RetryAfter is the Retry-After of a 503 (whole seconds, at least 1).
	// Default 1s.
	RetryAfter time.Duration

	// HandshakeTimeout bounds the write of the switch response (and of a
	// 100 Continue before a 101), and the read of the upgrade request's
	// body by a protocol that takes one (the http.Server's ReadTimeout
	// still holds where it is shorter). Default 10s.
	HandshakeTimeout time.Duration

	// Linger bounds the close of a connection whose protocol has returned:
	// the negotiator half-closes it, so that the client reads everything
	// the protocol wrote and then the end of the stream, and discards what
	// the client still sends (up to 1 MiB) for at most Linger before it
	// closes. A socket closed with unread input sends a reset, which
	// destroys replies still in flight. The close does not wait for the
	// client to read: a client that has stopped sending gets the rest even
	// if it reads it after the close, but one still sending when Linger
	// ends, or past 1 MiB, is reset and loses what had not reached it yet.
	// A write still under way in a goroutine of the protocol's ends at the
	// half-close over TCP (it fails; the client gets what had been sent).
	// Over TLS the half-close is close_notify, which waits for that write:
	// it gets Linger, and crypto/tls then gives close_notify up to 5 s more
	// when the client does not read. A refusal of a request whose body the
	// client sends (unasked, or after a 100 Continue) gives that body
	// Linger too (the http.Server's ReadTimeout still holds where it is
	// shorter): net/http reads up to 256 KiB of it before it closes, so
	// that the refusal is not reset. Default 2s.
	Linger time.Duration

	// ShutdownTimeout bounds the shutdown that
	// [Negotiator.RegisterOnShutdown] starts. Default 10s.
	ShutdownTimeout time.Duration

	// Authorize, if set, runs last before the switch, after the limits,
	// with the chosen protocol. It may add fields (cookies) to s.Header,
	// which the switch response carries, or refuse: an [*Error] is
	// answered as it is, any other error with 403.
	Authorize func(s *Switch) error

	// OnSwitch, if set, is called when a connection has switched, on the
	// request's goroutine.
	OnSwitch func(ConnInfo)
	// OnClose, if set, is called when a switched connection has closed,
	// on the connection's goroutine, with its duration, byte counts and
	// error.
	OnClose func(ConnInfo)
	// OnRefuse, if set, is called for every upgrade request that did not
	// switch (a refusal, or a switch that failed on the server's side),
	// on the request's goroutine, after the answer was written, and for
	// every request an Endpoint answers 426, one that offers nothing
	// included (a plain GET at a WebSocket route). What a Middleware
	// passes on, plain requests and upgrades that offer nothing of its
	// registry, is not reported.
	//
	// A panic in a hook is recovered, logged and counted in
	// [Stats].Panics; the switch, the connection and its close go on as
	// if the hook had returned.
	OnRefuse func(RefusalInfo)

	// Responder writes every refusal. Default [DefaultResponder]; wrap it
	// to observe refusals. The negotiator sets Connection: close (on
	// HTTP/1) before calling it.
	Responder func(w http.ResponseWriter, r *http.Request, err *Error)

	// Logger receives switches and closes (Debug), refusals (Info) and
	// recovered panics (Error). Nil means silent.
	Logger *slog.Logger
}

// Negotiator holds what its mounts share: the live switched connections,
// limits, hooks, statistics and the shutdown. Make it with [New] (a zero
// or nil Negotiator cannot be mounted: Middleware and Endpoint panic on
// it) and mount it with [Negotiator.Middleware] or [Negotiator.Endpoint],
// each over a [Registry]. A Negotiator is safe for concurrent use.
type Negotiator struct {
	opts       Options
	retryAfter string

	draining atomic.Bool
	refused  atomic.Int64
	panics   atomic.Int64

	mu       sync.Mutex
	live     map[*Conn]struct{}
	reserved int // being switched plus live
	closing  int // closed, until OnClose has returned
	byName   map[string]*protoCount
	changed  chan struct{} // made by a waiting Shutdown, closed when a connection leaves
	forced   atomic.Bool   // a Shutdown's context ended: it closed the live connections (set under mu)
}

type protoCount struct {
	reserved, active int
	switched, overH2 int64
}

// New returns a Negotiator configured by opts (nil means the defaults, and
// then New cannot fail). A negative limit or timeout, or a
// ProtocolMaxConns key that is not a token, is an error.
func New(opts *Options) (*Negotiator, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.MaxConns < 0 || o.RetryAfter < 0 || o.HandshakeTimeout < 0 || o.Linger < 0 || o.ShutdownTimeout < 0 {
		return nil, errors.New("negotiate: negative limit or timeout in Options")
	}
	limits := make(map[string]int, len(o.ProtocolMaxConns))
	for name, max := range o.ProtocolMaxConns {
		if max < 0 || !isToken(name) {
			return nil, fmt.Errorf("negotiate: ProtocolMaxConns[%q]: want a protocol name and a limit >= 0", name)
		}
		lower := strings.ToLower(name)
		if _, dup := limits[lower]; dup {
			// Which of the two limits held would depend on the map's order.
			return nil, fmt.Errorf("negotiate: ProtocolMaxConns: two keys name protocol %q (names are compared in lower case)", lower)
		}
		limits[lower] = max
	}
	o.ProtocolMaxConns = limits
	if o.RetryAfter == 0 {
		o.RetryAfter = time.Second
	}
	if o.HandshakeTimeout == 0 {
		o.HandshakeTimeout = 10 * time.Second
	}
	if o.Linger == 0 {
		o.Linger = 2 * time.Second
	}
	if o.ShutdownTimeout == 0 {
		o.ShutdownTimeout = 10 * time.Second
	}
	if o.Responder == nil {
		o.Responder = DefaultResponder
	}
	secs := int64(o.RetryAfter / time.Second) // rounded up below, without overflow
	if o.RetryAfter%time.Second != 0 {
		secs++
	}
	return &Negotiator{
		opts:       o,
		retryAfter: strconv.FormatInt(max(secs, 1), 10),
		live:       make(map[*Conn]struct{}),
		byName:     make(map[string]*protoCount),
	}, nil
}

// Middleware returns middleware that switches requests offering a protocol
// of reg, on every path the wrapped handler serves, before it routes: an
// offer of one of reg's tokens switches even where an [Negotiator.Endpoint]
// is mounted below. A request that is not an upgrade, or offers nothing reg
// has (or only offers its protocols ignore), goes to the next handler
// untouched; that path does not allocate. An upgrade whose Upgrade or
// Connection list is malformed is answered 400, as by an Endpoint. The
// middleware panics when it is given a nil handler.
func (n *Negotiator) Middleware(reg *Registry) func(http.Handler) http.Handler {
	n.mustMount("Middleware", reg)
	return func(next http.Handler) http.Handler {
		if next == nil {
			// Without it every plain request would get the 426 of an
			// Endpoint.
			panic("negotiate: Middleware around a nil http.Handler")
		}
		return &mount{n: n, reg: reg, next: next}
	}
}

// Endpoint returns a handler for a route that must switch: it switches
// requests offering a protocol of reg and answers every other request with
// 426 Upgrade Required, with Upgrade listing reg's tokens in preference
// order and Connection: Upgrade. Endpoint and Middleware panic on a nil
// reg, and on a Negotiator not made by [New].
func (n *Negotiator) Endpoint(reg *Registry) http.Handler {
	n.mustMount("Endpoint", reg)
	return &mount{n: n, reg: reg}
}

// mustMount panics on a negotiator New did not make and on a nil
// registry when the mount is made, as http.Handle does on a nil handler,
// rather than inside the first request.
func (n *Negotiator) mustMount(mount string, reg *Registry) {
	if n == nil || n.opts.Responder == nil { // New always sets a Responder
		panic("negotiate: " + mount + " on a Negotiator not made by New")
	}
	if reg == nil {
		panic("negotiate: " + mount + " with a nil *Registry (use new(negotiate.Registry))")
	}
}

type mount struct {
	n    *Negotiator
	reg  *Registry
	next http.Handler // nil: an endpoint
}

func (m *mount) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if m.n.Upgrade(w, r, m.reg) {
		return
	}
	if m.next != nil {
		m.next.ServeHTTP(w, r)
		return
	}
	tokens := strings.Join(m.reg.Tokens(), ", ")
	m.n.refuse(w, r, &Error{
		Status: http.StatusUpgradeRequired,
		Reason: "this resource requires a protocol upgrade to one of: " + tokens,
		Header: http.Header{"Upgrade": {tokens}, "Connection": {"Upgrade"}},
	})
}

// Upgrade negotiates one request, for adapters to other routers
// (echoadapter does this): if r offers a protocol of reg, it refuses or
// switches, handing the switched connection to the protocol in a goroutine
// of its own, and reports true: the request has been answered and w must
// not be used again. On an HTTP/2 stream (extended CONNECT) the protocol
// runs on the caller's goroutine instead, and Upgrade returns when it has
// returned and the stream has ended. It reports false, having written
// nothing, when r is not an upgrade or offers nothing reg has (or only
// offers its protocols ignore): serve r as ordinary HTTP, or answer 426.
// Like the mounts, it panics on a nil reg and on a Negotiator not made by
// [New], at the first upgrade it is given.
func (n *Negotiator) Upgrade(w http.ResponseWriter, r *http.Request, reg *Registry) bool {
	if !IsUpgrade(r) {
		return false
	}
	n.mustMount("Upgrade", reg)
	if r.RequestURI == "*" && r.Method != http.MethodOptions {
		n.refuse(w, r, errAsterisk) // "PRI * HTTP/1.1": RFC 9112 §3.2.4
		return true
	}
	ch, err := reg.selectProtocol(r)
	if err != nil {
		if p, ok := err.(*checkPanic); ok {
			n.refuseFor(w, r, ch.refuser, asError(n.panicked("Check", ch.refuser.token, r, p.v), http.StatusInternalServerError), true)
			return true
		}
		n.refuseFor(w, r, ch.refuser, asError(err, http.StatusBadRequest), false)
		return true
	}
	if ch.e == nil {
		return false
	}
	if e := n.reserve(ch.e.name); e != nil {
		n.refuseFor(w, r, ch.e, e, false)
		return true
	}
	if ch.e.proto.TakesBody && hasBody(r) && !readTimeoutWithin(r, n.opts.HandshakeTimeout) {
		// Accept reads the body: bound the wait for it by the handshake's
		// (the server's ReadTimeout, where it is no longer, is running
		// already and ends it sooner).
		_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(n.opts.HandshakeTimeout))
	}
	if r.ProtoMajor != 1 {
		// On an HTTP/2 stream the server's ReadTimeout and WriteTimeout
		// run from its start and end it for good when they pass, whether
		// a read or write waits or not: a gate slower than them
		// (Authorize, Accept) would switch a dead stream. They are
		// cleared before it, as the hijack clears them on HTTP/1.1 (a
		// writer that cannot clear them is refused by switchStream).
		rc := http.NewResponseController(w)
		_ = rc.SetReadDeadline(time.Time{})
		_ = rc.SetWriteDeadline(time.Time{})
	}
	c := &Conn{n: n, e: ch.e, sw: Switch{Request: r, Token: ch.token, Header: w.Header()}, ctx: connContext{req: r}, h2: r.ProtoMajor != 1, hs: mark()}
	body := r.Body // Accept may replace it (h2c leaves a replay for stream 1)
	var ab *acceptBody
	if ch.e.proto.TakesBody && hasBody(r) {
		// Accept's Close leaves the rest for the discard below: net/http's
		// gives up on more than 256 KiB, and reads less without the 100
		// Continue a client may be waiting for.
		ab = &acceptBody{ReadCloser: body}
		r.Body = ab
	}
	serve, err := n.accept(c)
	if err != nil {
		n.release(ch.e.name)
		n.refuseBody(w, r, ch.e, asError(err, http.StatusInternalServerError), !isError(err), ab)
		return true
	}
	if ab != nil {
		// What Accept left of the body must not be the serve func's first
		// reads: it is discarded, within the deadline set above. (ab, not
		// hasBody again: Accept may have changed the request's fields.)
		ab.read.Store(true) // a 100 Continue still due goes out now
		if e := discardBody(body); e != nil {
			n.unswitched(c, serve, func() { n.refuseBody(w, r, ch.e, e, false, ab) })
			return true
		}
	}
	if n.forced.Load() {
		// A shutdown whose context ended while Accept ran has closed
		// every live connection: a switch made now would outlive it.
		n.unswitched(c, serve, func() { n.refuseBody(w, r, ch.e, errShuttingDown(), false, ab) })
		return true
	}
	if c.h2 {
		n.switchStream(w, c, serve)
	} else {
		n.switchConn(w, c, serve)
	}
	return true
}

// discardBody reads what is left of a request's body, up to
// maxLingerBytes, so that none of it stays in the stream as protocol data.
// It returns the refusal of a body that is longer (or over the limit of
// an http.MaxBytesHandler in front), cut short or late.
func discardBody(body io.Reader) *Error {
	buf := drainBuffers.Get().(*[4096]byte)
	defer drainBuffers.Put(buf)
	for n := 0; ; {
		k, err := body.Read(buf[:])
		if n += k; n > maxLingerBytes {
			return &Error{Status: http.StatusRequestEntityTooLarge, Reason: "request body too large: the protocol left more than 1 MiB of it unread"}
		}
		var tooLarge *http.MaxBytesError // an http.MaxBytesHandler's limit, in front
		switch {
		case err == io.EOF:
			return nil
		case errors.Is(err, os.ErrDeadlineExceeded):
			return &Error{Status: http.StatusRequestTimeout, Reason: "request body not received in time", Err: err}
		case errors.As(err, &tooLarge):
			return &Error{Status: http.StatusRequestEntityTooLarge, Reason: "request body over " + strconv.FormatInt(tooLarge.Limit, 10) + " bytes", Err: err}
		case err != nil:
			return &Error{Status: http.StatusBadRequest, Reason: "request body cut short", Err: err}
		}
	}
}

// acceptBody is the request body Accept reads when its protocol takes
// one. Its Close ends Accept's reads, as net/http's does, and leaves what
// is left of the body to discardBody, which reads it through net/http's
// body (sending a 100 Continue that is due) within the handshake's bounds.
type acceptBody struct {
	io.ReadCloser
	closed atomic.Bool
	read   atomic.Bool // the body was read: net/http sent a due 100 Continue
}

func (b *acceptBody) Read(p []byte) (int, error) {
	if b.closed.Load() {
		return 0, http.ErrBodyReadAfterClose
	}
	b.read.Store(true)
	return b.ReadCloser.Read(p)
}

func (b *acceptBody) Close() error {
	b.closed.Store(true)
	return nil
}

// continueDue reports whether r's client still waits for a 100 Continue
// before it sends the body: it expects one, and nothing has read the body
// (net/http sends it at the first read). ab is the body Accept was given
// (nil: none), which Accept may have replaced in r.Body by a wrapper.
func continueDue(r *http.Request, ab *acceptBody) bool {
	if ab != nil && ab.read.Load() {
		return false
	}
	return ContainsToken(r.Header["Expect"], "100-continue")
}

// readTimeoutWithin reports whether the http.Server r came through has a
// ReadTimeout no longer than d: its deadline for the request, body
// included, then comes first, and a later one must not replace it.
func readTimeoutWithin(r *http.Request, d time.Duration) bool {
	srv, _ := r.Context().Value(http.ServerContextKey).(*http.Server)
	return srv != nil && srv.ReadTimeout > 0 && srv.ReadTimeout <= d
}

// accept runs the gate's last step and the protocol's Accept, recovering
// a panic in either.
func (n *Negotiator) accept(c *Conn) (serve func(*Conn) error, err error) {
	where := "protocol"
	defer func() {
		if p := recover(); p != nil {
			err = n.panicked(where, c.sw.Token, c.sw.Request, p)
		}
	}()
	if a := n.opts.Authorize; a != nil {
		where = "Authorize" // the program's gate, not the protocol
		if err := a(&c.sw); err != nil {
			return nil, asError(err, http.StatusForbidden)
		}
		where = "protocol"
	}
	serve, err = c.e.proto.Accept(&c.sw)
	if err == nil && serve == nil {
		err = errors.New("negotiate: Protocol.Accept returned neither a serve func nor an error")
	}
	return serve, err
}

// refuse writes e through the responder with Connection: close, for a
// request no registered protocol was chosen for.
func (n *Negotiator) refuse(w http.ResponseWriter, r *http.Request, e *Error) {
	n.refuseFor(w, r, nil, e, false)
}

// refuseFor writes e through the responder with Connection: close and
// reports it to OnRefuse, for the protocol of p (nil: none).
func (n *Negotiator) refuseFor(w http.ResponseWriter, r *http.Request, p *entry, e *Error, failed bool) {
	n.refuseBody(w, r, p, e, failed, nil)
}

// refuseBody is refuseFor after a protocol's Accept was given the body ab
// (nil: none).
func (n *Negotiator) refuseBody(w http.ResponseWriter, r *http.Request, p *entry, e *Error, failed bool, ab *acceptBody) {
	n.refused.Add(1)
	if e.Status < 200 || e.Status > 599 {
		// No final answer has it (a Status left out, a 101 that switches
		// nothing): the protocol's fault, not the client's.
		e, failed = &Error{Status: http.StatusInternalServerError,
			Reason: "negotiate: a refusal with status " + strconv.Itoa(e.Status) + ", which no final answer has", Err: e}, true
	}
	if r.ProtoMajor == 1 {
		// net/http closes after the reply only if the first Connection
		// value is exactly "close"; a 426's Upgrade follows on its own line.
		w.Header()["Connection"] = append([]string{"close"}, e.Header["Connection"]...)
	} else if e.Header["Upgrade"] != nil || e.Header["Connection"] != nil {
		// Connection-specific fields are malformed in HTTP/2 and later
		// (RFC 9113 §8.2.2): clients reset the stream.
		e2 := *e
		e2.Header = e.Header.Clone()
		e2.Header.Del("Upgrade")
		e2.Header.Del("Connection")
		e = &e2
	}
	responded := false
	defer func() {
		if !responded {
			// The Responder panicked: net/http closes the connection
			// without an answer (or cuts it), and observers still learn
			// of the refusal, as a failure.
			n.reportRefusal(r, p, 0, true)
		}
	}()
	n.opts.Responder(w, r, e)
	responded = true
	if r.ProtoMajor == 1 && hasBody(r) {
		// net/http reads what is left of the body (up to 256 KiB) before
		// it closes, so that the socket is not closed with input unread,
		// which sends a reset that can destroy the refusal in flight (RFC
		// 9112 §9.6). A client that waits for a 100 Continue that did not
		// go out never sends it: the read ends at once. One that sends its
		// body, unasked or after the 100, gets Linger for it, as at a
		// switched connection's close, so that one holding the connection
		// on purpose does not keep it; a server's ReadTimeout no longer
		// than Linger is running already and ends the read sooner.
		switch {
		case continueDue(r, ab):
			_ = http.NewResponseController(w).SetReadDeadline(time.Now())
		case !readTimeoutWithin(r, n.opts.Linger):
			_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(n.opts.Linger))
		}
	}
	n.logRefusal(r, e.Status, e.Reason)
	n.reportRefusal(r, p, e.Status, failed)
}

var errPanic = errors.New("negotiate: panic in protocol")

// logger returns Options.Logger if it takes records of level, and nil
// otherwise, so that a call site builds no arguments for a record that
// would be dropped.
func (n *Negotiator) logger(level slog.Level) *slog.Logger {
	if l := n.opts.Logger; l != nil && l.Enabled(context.Background(), level) {
		return l
	}
	return nil
}

// recovered counts and logs a panic recovered from a protocol and returns
// it as an error (a 500 before the switch).
func (n *Negotiator) recovered(c *Conn, p any) error {
	return n.panicked("protocol", c.sw.Token, c.sw.Request, p)
}

// panicked counts and logs a panic recovered from where (a protocol, its
// Check, a hook) for the request r, and returns it as an error.
func (n *Negotiator) panicked(where, token string, r *http.Request, p any) error {
	n.panics.Add(1)
	if l := n.logger(slog.LevelError); l != nil {
		l.Error("negotiate: panic in "+where+"; recovered", "panic", fmt.Sprint(p),
			"token", token, "remote", r.RemoteAddr)
	}
	return fmt.Errorf("%w: %v", errPanic, p)
}

// The hooks run through these, so that a panic in one is recovered,
// counted and logged like a protocol's: an observer's bug must not leave a
// switch half made, a slot taken or the process down.

func (n *Negotiator) onSwitch(c *Conn) {
	defer n.recoverHook("OnSwitch", c.sw.Token, c.sw.Request)
	n.opts.OnSwitch(c.Info())
}

func (n *Negotiator) onClose(c *Conn, info ConnInfo) {
	defer n.recoverHook("OnClose", c.sw.Token, c.sw.Request)
	n.opts.OnClose(info)
}

// onRefuse's token is the registered token of the protocol concerned
// ("" for none), as a Check's panic is logged with: the client's Upgrade
// field holds whatever it offered, and an extended CONNECT has none.
func (n *Negotiator) onRefuse(r *http.Request, token string, ri RefusalInfo) {
	defer n.recoverHook("OnRefuse", token, r)
	n.opts.OnRefuse(ri)
}

func (n *Negotiator) recoverHook(hook, token string, r *http.Request) {
	if p := recover(); p != nil {
		_ = n.panicked(hook+" hook", token, r, p)
	}
}

// reserve takes a connection slot, or returns the 503 that refuses one.
func (n *Negotiator) reserve(name string) *Error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.draining.Load() {
		return errShuttingDown()
	}
	pc := n.count(name)
	if n.opts.MaxConns > 0 && n.reserved >= n.opts.MaxConns {
		return n.overLimit("connection limit reached")
	}
	if max, ok := n.opts.ProtocolMaxConns[name]; ok && pc.reserved >= max {
		return n.overLimit("connection limit reached for protocol " + name)
	}
	n.reserved++
	pc.reserved++
	return nil
}

func errShuttingDown() *Error {
	return &Error{Status: http.StatusServiceUnavailable, Reason: "server is shutting down"}
}

func (n *Negotiator) overLimit(reason string) *Error {
	return &Error{Status: http.StatusServiceUnavailable, Reason: reason,
		Header: http.Header{"Retry-After": {n.retryAfter}}}
}

func (n *Negotiator) release(name string) {
	n.mu.Lock()
	n.reserved--
	n.count(name).reserved--
	n.signalLocked()
	n.mu.Unlock()
}

// count returns the counters of a protocol name; n.mu must be held.
func (n *Negotiator) count(name string) *protoCount {
	pc := n.byName[name]
	if pc == nil {
		pc = &protoCount{}
		n.byName[name] = pc
	}
	return pc
}

// signalLocked wakes the Shutdowns waiting for a connection to leave.
func (n *Negotiator) signalLocked() {
	if n.changed != nil {
		close(n.changed)
		n.changed = nil
	}
}

// Stats is a snapshot of a negotiator's connections, keyed by protocol name
// (the token in lower case, without version).
type Stats struct {
	Active   map[string]int   // switched connections open now
	Switched map[string]int64 // switches since the negotiator was made
	OverH2   map[string]int64 // of Switched, those made on HTTP/2 streams (extended CONNECT)
	Refused  int64            // refusals written
	Panics   int64            // panics recovered: in protocols (Check, Accept, serve funcs), Authorize and the hooks
}

// Stats returns a snapshot of the negotiator's counts.
func (n *Negotiator) Stats() Stats {
	n.mu.Lock()
	defer n.mu.Unlock()
	s := Stats{
		Active:   make(map[string]int, len(n.byName)),
		Switched: make(map[string]int64, len(n.byName)),
		OverH2:   make(map[string]int64, len(n.byName)),
		Refused:  n.refused.Load(),
		Panics:   n.panics.Load(),
	}
	for name, pc := range n.byName {
		s.Active[name] = pc.active
		s.Switched[name] = pc.switched
		s.OverH2[name] = pc.overH2
	}
	return s
}
