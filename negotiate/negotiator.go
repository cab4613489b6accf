package negotiate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
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
	// (connections in their handshake count). Over it a request is refused
	// with 503 and Retry-After. 0 means no limit.
	MaxConns int

	// ProtocolMaxConns limits connections per protocol name ("websocket",
	// "echo"; lower case, without version), with 503 and Retry-After over
	// it. A missing name has no limit.
	ProtocolMaxConns map[string]int

	// RetryAfter is the Retry-After of a 503 (whole seconds, at least 1).
	// Default 1s.
	RetryAfter time.Duration

	// HandshakeTimeout bounds the write of the 101 (and of a 100 Continue
	// before it). Default 10s.
	HandshakeTimeout time.Duration

	// MaxBodyBytes is the size over which an upgrade request's declared
	// body gets 413 instead of 400 from a protocol that takes none, and the
	// bound offered to protocols that take one. Default 1 MiB.
	MaxBodyBytes int64

	// ShutdownTimeout bounds the graceful part of the shutdown started by
	// [Negotiator.RegisterOnShutdown]. Default 10s.
	ShutdownTimeout time.Duration

	// Authorize, if set, runs last before the switch, with the chosen token
	// as the client offered it. It may add headers (cookies) to h, which the
	// 101 carries, or refuse: an [*Error] is answered as it is, any other
	// error with 403.
	Authorize func(r *http.Request, token string, h http.Header) error

	// OnSwitch, if set, is called when a connection has switched.
	OnSwitch func(ConnInfo)
	// OnClose, if set, is called when a switched connection has closed,
	// with its duration, byte counts and error.
	OnClose func(ConnInfo)
	// OnRefuse, if set, is called for every refusal after it is written.
	OnRefuse func(r *http.Request, err *Error)

	// Responder writes every refusal. Default [DefaultResponder]. The
	// negotiator sets Connection: close (on HTTP/1) before calling it.
	Responder func(w http.ResponseWriter, r *http.Request, err *Error)

	// Logger receives switches and closes (Debug), refusals (Info) and
	// recovered panics (Error). Nil means silent.
	Logger *slog.Logger
}

// Negotiator holds what its mounts share: the live switched connections,
// limits, hooks, statistics and the shutdown. Mount it with
// [Negotiator.Middleware], [Negotiator.Require] or [Negotiator.Endpoint],
// each over a [Registry]; mounts of one negotiator share everything but the
// registry. A Negotiator is safe for concurrent use.
type Negotiator struct {
	opts       Options
	retryAfter string

	draining atomic.Bool
	refused  atomic.Int64
	panics   atomic.Int64

	mu       sync.Mutex
	live     map[*Conn]struct{}
	reserved int // handshaking plus live
	byName   map[string]*protoCount
	changed  chan struct{} // made by a waiting Shutdown, closed when a connection leaves
}

type protoCount struct {
	reserved, active int
	switched         int64
}

// New returns a Negotiator configured by opts (nil means the defaults). A
// negative limit, timeout or bound is an error.
func New(opts *Options) (*Negotiator, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.MaxConns < 0 || o.RetryAfter < 0 || o.HandshakeTimeout < 0 || o.MaxBodyBytes < 0 || o.ShutdownTimeout < 0 {
		return nil, errors.New("negotiate: negative limit, timeout or bound in Options")
	}
	limits := make(map[string]int, len(o.ProtocolMaxConns))
	for name, max := range o.ProtocolMaxConns {
		if max < 0 || !isToken(name) {
			return nil, fmt.Errorf("negotiate: ProtocolMaxConns[%q]: want a protocol name and a limit >= 0", name)
		}
		limits[strings.ToLower(name)] = max
	}
	o.ProtocolMaxConns = limits
	if o.RetryAfter == 0 {
		o.RetryAfter = time.Second
	}
	if o.HandshakeTimeout == 0 {
		o.HandshakeTimeout = 10 * time.Second
	}
	if o.MaxBodyBytes == 0 {
		o.MaxBodyBytes = 1 << 20
	}
	if o.ShutdownTimeout == 0 {
		o.ShutdownTimeout = 10 * time.Second
	}
	if o.Responder == nil {
		o.Responder = DefaultResponder
	}
	secs := int64((o.RetryAfter + time.Second - 1) / time.Second)
	return &Negotiator{
		opts:       o,
		retryAfter: strconv.FormatInt(max(secs, 1), 10),
		live:       make(map[*Conn]struct{}),
		byName:     make(map[string]*protoCount),
	}, nil
}

// MaxBodyBytes returns the configured bound on upgrade request bodies, for
// protocols that take one.
func (n *Negotiator) MaxBodyBytes() int64 { return n.opts.MaxBodyBytes }

// Middleware returns middleware that switches requests offering a protocol
// of reg. A request that is not an upgrade, or offers nothing reg has (or
// only offers its protocols ignore), goes to the next handler untouched;
// that path does not allocate.
func (n *Negotiator) Middleware(reg *Registry) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return &mount{n: n, reg: reg, next: next}
	}
}

// Require returns middleware like [Negotiator.Middleware] for routes that
// must switch: a request that does not is answered 426 as by
// [Negotiator.Endpoint], and the next handler is never called.
func (n *Negotiator) Require(reg *Registry) func(http.Handler) http.Handler {
	return func(http.Handler) http.Handler { return n.Endpoint(reg) }
}

// Endpoint returns a handler that switches requests offering a protocol of
// reg and answers every other request with 426 Upgrade Required, with
// Upgrade listing reg's tokens in preference order and Connection: Upgrade.
func (n *Negotiator) Endpoint(reg *Registry) http.Handler {
	return &mount{n: n, reg: reg}
}

type mount struct {
	n    *Negotiator
	reg  *Registry
	next http.Handler // nil: an endpoint
}

func (m *mount) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !m.n.Upgrade(w, r, m.reg, m.next) {
		m.pass(w, r)
	}
}

// Upgrade is the negotiation of one request, for adapters to other routers
// (echoadapter): if r offers a protocol of reg, it refuses or switches,
// handing the switched connection to the protocol in a goroutine of its
// own, and reports true: the request has been answered. It reports false,
// having written nothing, when r is not an upgrade or offers nothing reg
// has (or only offers its protocols ignore): serve r as ordinary HTTP, or
// answer 426. next is what [Conn.Next] returns to the protocol (h2c serves
// its streams with it).
func (n *Negotiator) Upgrade(w http.ResponseWriter, r *http.Request, reg *Registry, next http.Handler) bool {
	if !IsUpgrade(r) {
		return false
	}
	if r.RequestURI == "*" && r.Method != http.MethodOptions {
		n.refuse(w, r, errAsterisk) // "PRI * HTTP/1.1": RFC 9112 §3.2.4
		return true
	}
	c, err := reg.selectProtocol(r, n.opts.MaxBodyBytes)
	if err != nil {
		n.refuse(w, r, asError(err, http.StatusBadRequest))
		return true
	}
	if c.e == nil {
		return false
	}
	c.next = next
	// The gate, then the switch. This path is kept shallow: an engine's
	// hijack runs at its bottom, on net/http's goroutine, whose stack
	// grows (a copy) if the path is deep.
	if err := n.reserve(c.e.name); err != nil {
		n.refuse(w, r, err)
		return true
	}
	if a := n.opts.Authorize; a != nil {
		if err := a(r, c.token, w.Header()); err != nil {
			n.release(c.e.name)
			n.refuse(w, r, asError(err, http.StatusForbidden))
			return true
		}
	}
	if c.e.proto.Handshake == nil {
		n.serveSwitch(w, r, c)
		return true
	}
	// A Handshake engine, through a writer whose Hijack is ours.
	sw := &switchWriter{ResponseWriter: w, n: n, r: r, c: c}
	defer func() {
		if p := recover(); p != nil {
			err = n.recovered(nil, p)
		}
		n.handshaken(sw, err)
	}()
	err = c.e.proto.Handshake(sw, r)
	return true
}

func (m *mount) pass(w http.ResponseWriter, r *http.Request) {
	if m.next != nil {
		m.next.ServeHTTP(w, r)
		return
	}
	m.n.refuse(w, r, &Error{
		Status: http.StatusUpgradeRequired,
		Reason: "this resource requires a protocol upgrade to one of: " + strings.Join(m.reg.Tokens(), ", "),
		Header: http.Header{
			"Upgrade":    {strings.Join(m.reg.Tokens(), ", ")},
			"Connection": {"Upgrade"},
		},
	})
}

// refuse writes e through the responder with Connection: close.
func (n *Negotiator) refuse(w http.ResponseWriter, r *http.Request, e *Error) {
	n.refused.Add(1)
	if r.ProtoMajor == 1 {
		// net/http closes after the reply only if the first Connection
		// value is exactly "close"; a 426's Upgrade follows on its own line.
		w.Header()["Connection"] = append([]string{"close"}, e.Header["Connection"]...)
	}
	n.opts.Responder(w, r, e)
	if r.ProtoMajor == 1 && hasBody(r) && strings.EqualFold(r.Header.Get("Expect"), "100-continue") {
		// No 100 Continue went out, so the client may rightly never send
		// the body net/http would wait for before it closes; RFC 9112 §9.6
		// wants the server that said "close" to close.
		_ = http.NewResponseController(w).SetReadDeadline(time.Now())
	}
	if n.opts.OnRefuse != nil {
		n.opts.OnRefuse(r, e)
	}
	if l := n.opts.Logger; l != nil {
		l.Info("negotiate: upgrade refused", "status", e.Status, "reason", e.Reason,
			"remote", r.RemoteAddr, "path", r.URL.Path, "upgrade", r.Header.Get("Upgrade"))
	}
}

// Refuse answers a refusal from inside a [Protocol]'s Handshake (gorilla's
// own checks, say) through the negotiator's responder, hooks and counts. An
// error that is not an [*Error] is a 400. Outside a Handshake, Refuse writes
// err with [DefaultResponder] and Connection: close.
func Refuse(w http.ResponseWriter, r *http.Request, err error) {
	e := asError(err, http.StatusBadRequest)
	for u := w; u != nil; {
		if sw, ok := u.(*switchWriter); ok {
			sw.refused = true
			sw.n.refuse(sw.ResponseWriter, r, e)
			return
		}
		uw, ok := u.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			break
		}
		u = uw.Unwrap()
	}
	w.Header().Set("Connection", "close")
	DefaultResponder(w, r, e)
}

// serveSwitch hijacks, writes the 101 and hands the connection to Serve in
// a goroutine of its own.
func (n *Negotiator) serveSwitch(w http.ResponseWriter, r *http.Request, c choice) {
	nc, brw, err := hijackConn(w)
	if err != nil {
		n.release(c.e.name)
		n.hijackFailed(w, r, err)
		return
	}
	conn := new(Conn)
	n.adopt(conn, nc, brw, r, &c)
	if err := conn.write101(w.Header(), r); err != nil {
		n.finish(conn, err)
		return
	}
	go conn.serve()
}

func (n *Negotiator) hijackFailed(w http.ResponseWriter, r *http.Request, err error) {
	var e *Error
	if errors.As(err, &e) {
		// A writer wrapper that knows why it cannot hijack (echoadapter
		// behind Echo's Timeout middleware) says so in its own words.
		n.refuse(w, r, e)
		return
	}
	if errors.Is(err, http.ErrNotSupported) {
		// A server-side wiring fault, not the client's: say so.
		n.refuse(w, r, &Error{Status: http.StatusInternalServerError,
			Reason: "cannot switch protocols: the ResponseWriter does not support Hijack (a wrapper without Unwrap, or a timeout handler)", Err: err})
		return
	}
	if l := n.opts.Logger; l != nil {
		l.Info("negotiate: hijack failed", "remote", r.RemoteAddr, "err", err)
	}
}

// handshaken finishes a Handshake: it hands a switched connection to Serve
// (or closes it), and answers a request that did not switch.
func (n *Negotiator) handshaken(sw *switchWriter, err error) {
	if conn := sw.conn; conn != nil {
		if err != nil || conn.e.proto.Serve == nil {
			n.finish(conn, err)
			return
		}
		_ = conn.nc.SetWriteDeadline(time.Time{}) // the handshake's
		go conn.serve()
		return
	}
	n.release(sw.c.e.name)
	if errors.Is(err, errPanic) {
		panic(http.ErrAbortHandler) // logged and counted; net/http closes the connection
	}
	if !sw.refused && !sw.wrote {
		if err == nil {
			err = ErrNotSwitched
		}
		n.refuse(sw.ResponseWriter, sw.r, asError(err, http.StatusInternalServerError))
	}
}

var errPanic = errors.New("negotiate: panic in protocol")

// recovered counts and logs a panic recovered from a protocol (c is nil
// before the switch) and returns it as an error.
func (n *Negotiator) recovered(c *Conn, p any) error {
	n.panics.Add(1)
	if l := n.opts.Logger; l != nil && p != http.ErrAbortHandler {
		attrs := []any{"panic", fmt.Sprint(p)}
		if c != nil {
			attrs = append(attrs, "protocol", c.protocol, "remote", c.req.RemoteAddr)
		}
		l.Error("negotiate: panic in protocol; connection closed", attrs...)
	}
	return fmt.Errorf("%w: %v", errPanic, p)
}

// reserve takes a connection slot, or returns the 503 that refuses one.
func (n *Negotiator) reserve(name string) *Error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.draining.Load() {
		return &Error{Status: http.StatusServiceUnavailable, Reason: "server is shutting down"}
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
// (lower case, without version).
type Stats struct {
	Active   map[string]int   // switched connections open now
	Switched map[string]int64 // switches since the negotiator was made
	Refused  int64            // refusals written
	Panics   int64            // panics recovered in protocols
}

// Stats returns a snapshot of the negotiator's counts.
func (n *Negotiator) Stats() Stats {
	n.mu.Lock()
	defer n.mu.Unlock()
	s := Stats{
		Active:   make(map[string]int, len(n.byName)),
		Switched: make(map[string]int64, len(n.byName)),
		Refused:  n.refused.Load(),
		Panics:   n.panics.Load(),
	}
	for name, pc := range n.byName {
		s.Active[name] = pc.active
		s.Switched[name] = pc.switched
	}
	return s
}

// Shutdown stops new switches (they are refused with 503), asks every live
// connection to close its protocol's own way ([Protocol].Shutdown or
// [Conn.OnShutdown]; a connection whose Serve has not started yet is asked
// when it starts), and waits until all are gone or ctx ends; then it closes the rest and returns
// ctx's error. Calling it again waits again. Shutdown does not stop the
// http.Server; see [Negotiator.RegisterOnShutdown].
func (n *Negotiator) Shutdown(ctx context.Context) error {
	n.mu.Lock()
	n.draining.Store(true)
	conns := make([]*Conn, 0, len(n.live))
	for c := range n.live {
		conns = append(conns, c)
	}
	n.mu.Unlock()
	for _, c := range conns {
		c.askShutdown()
	}
	for {
		n.mu.Lock()
		if n.reserved == 0 {
			n.mu.Unlock()
			return nil
		}
		if n.changed == nil {
			n.changed = make(chan struct{})
		}
		ch := n.changed
		n.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			n.mu.Lock()
			for c := range n.live {
				_ = c.nc.Close()
			}
			n.mu.Unlock()
			return ctx.Err()
		}
	}
}

// RegisterOnShutdown ties the negotiator to srv: srv.Shutdown (which does
// not track hijacked connections) also starts [Negotiator.Shutdown], bounded
// by Options.ShutdownTimeout. To wait for the switched connections, call
// Shutdown after srv.Shutdown returns.
func (n *Negotiator) RegisterOnShutdown(srv *http.Server) {
	srv.RegisterOnShutdown(func() {
		ctx, cancel := context.WithTimeout(context.Background(), n.opts.ShutdownTimeout)
		defer cancel()
		_ = n.Shutdown(ctx)
	})
}
