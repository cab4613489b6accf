package demoapp

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/switchyard-http/switchyard/negotiate"
)

// ShutdownGrace bounds an example's whole shutdown, so that the process
// exits within ten seconds even when peers do not answer. Pass it as
// negotiate.Options.ShutdownTimeout too.
const ShutdownGrace = 8 * time.Second

// Config is how an example program serves: where, within which limits,
// over TLS or not, and where its listening line and its logs go. Main
// sets it from a demo's flags; a program's tests set it themselves.
type Config struct {
	Addr   string       // listen address, HOST:PORT (port 0 picks a free one)
	Limits Limits       // zero fields: no limit
	TLS    *tls.Config  // nil: plain HTTP (TLS.Config makes one)
	Out    io.Writer    // gets the listening line, and nothing else
	Logger *slog.Logger // nil: no logs
}

// Main is a demo's main: it sets a Config from the command line
//
//	-addr HOST:PORT      listen address (default 127.0.0.1:8080)
//	-max-conns N         Limits.MaxConns
//	-idle-timeout D      Limits.IdleTimeout
//	-request-timeout D   Limits.RequestTimeout
//	-tls | -cert FILE -key FILE   HTTPS (TLS.SetFlags)
//	-v                   log switches and closes
//
// with the listening line on standard output and the logs on standard
// error, and calls run until SIGINT or SIGTERM (RunUntilSignal).
func Main(run func(ctx context.Context, cfg Config) error) {
	cfg := Config{Limits: DefaultLimits(), Out: os.Stdout}
	flag.StringVar(&cfg.Addr, "addr", "127.0.0.1:8080", "listen address, HOST:PORT (port 0 picks a free one)")
	flag.IntVar(&cfg.Limits.MaxConns, "max-conns", cfg.Limits.MaxConns, "most switched connections at once (WebSocket, h2c, echo/1); 0 for no limit")
	flag.DurationVar(&cfg.Limits.IdleTimeout, "idle-timeout", cfg.Limits.IdleTimeout, "close keep-alive and h2c connections idle this long")
	flag.DurationVar(&cfg.Limits.RequestTimeout, "request-timeout", cfg.Limits.RequestTimeout, "bound on reading a plain request and writing its answer")
	var sec TLS
	sec.SetFlags(flag.CommandLine)
	verbose := flag.Bool("v", false, "log switches and closes")
	flag.Parse()
	cfg.Logger = Logger(*verbose)
	RunUntilSignal(cfg.Logger, func(ctx context.Context) error {
		var err error
		if cfg.TLS, err = sec.Config(); err != nil {
			return err
		}
		return run(ctx, cfg)
	})
}

// Logger is an example's logger: text on standard error (standard output
// carries only the listening line), from Info up, from Debug up when
// verbose (the negotiator logs each switch and close at Debug).
func Logger(verbose bool) *slog.Logger {
	level := slog.LevelInfo
	if verbose {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

// RunUntilSignal calls run with a context that SIGINT or SIGTERM ends, and
// when run returns an error, logs it to logger and exits with status 1.
func RunUntilSignal(logger *slog.Logger, run func(ctx context.Context) error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx)
	stop()
	if err != nil {
		logger.Error("exiting", "err", err)
		os.Exit(1)
	}
}

// HTTPServer returns a server for h set up as a server facing the Internet
// should be: a plain request's head bounded by 5 s, the whole request and
// its answer by c.Limits.RequestTimeout (ReadTimeout and WriteTimeout,
// which the negotiator clears when it switches a connection), keep-alive
// connections closed after c.Limits.IdleTimeout (h2c takes it for
// upgraded connections too), and net/http's own log lines to c.Logger as
// warnings.
func (c Config) HTTPServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second, // a client dribbling its head is cut off
		ReadTimeout:       c.Limits.RequestTimeout,
		WriteTimeout:      c.Limits.RequestTimeout,
		IdleTimeout:       c.Limits.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(c.Log().Handler(), slog.LevelWarn),
	}
}

// Serve listens on c.Addr and serves srv there, over TLS with c.TLS
// unless it is nil (HTTP/2 or HTTP/1.1 by ALPN: net/http serves HTTP/2 on
// the connections that chose it). Once it accepts connections it writes
// "listening on http://HOST:PORT" (https:// over TLS) to c.Out. When ctx
// ends it shuts down within ShutdownGrace: srv.Shutdown lets plain
// requests finish and sends GOAWAY to prior-knowledge HTTP/2 connections;
// net/http does not track the connections n switched, so n.Shutdown waits
// for those (the caller has called n.RegisterOnShutdown(srv), so that
// srv.Shutdown starts closing them at once). Serve returns nil after a
// shutdown, whatever peers did; an error when it cannot listen or serve.
func (c Config) Serve(ctx context.Context, srv *http.Server, n *negotiate.Negotiator) error {
	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return err
	}
	scheme := "http"
	if c.TLS != nil {
		srv.TLSConfig = c.TLS
		ln = tls.NewListener(ln, c.TLS)
		scheme = "https"
	}

	fmt.Fprintf(c.Out, "listening on %s://%s\n", scheme, ln.Addr())
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	select {
	case err := <-serveErr:
		return err
	case <-ctx.Done():
	}

	logger := c.Log()
	logger.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), ShutdownGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		logger.Warn("plain requests cut short", "err", err)
		_ = srv.Close()
	}
	if err := n.Shutdown(sctx); err != nil {
		logger.Warn("switched connections closed at the deadline", "err", err)
	}
	if err := <-serveErr; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Log is c.Logger, or when it is nil a logger that discards everything:
// what a program hands to code that needs a logger (a framework's, the
// server's ErrorLog), so that a Config without a Logger means no logs.
func (c Config) Log() *slog.Logger {
	if c.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Logger
}
