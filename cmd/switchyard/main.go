package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/textproto"
	"os"
	"strings"
	"time"

	"github.com/switchyard-http/switchyard/internal/httpsyntax"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

const (
	exitOK      = 0
	exitRefused = 1 // a refusal or an invalid 101
	exitError   = 2 // usage or network error
)

const usage = `usage:
  switchyard probe [-h2] [-offer TOKENS] [-H 'Name: value']... [-v] [-k] [-timeout D] URL
  switchyard ws    [-h2] [-H 'Name: value']... [-v] [-k] [-timeout D] URL
  switchyard raw   [-h2] -offer TOKEN [-H 'Name: value']... [-v] [-k] [-timeout D] URL
`

// run is the command: args without the program name; it returns the exit
// status.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitError
	}
	cmd, args := args[0], args[1:]
	if cmd == "-h" || cmd == "-help" || cmd == "help" {
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	if cmd != "probe" && cmd != "ws" && cmd != "raw" {
		fmt.Fprintf(stderr, "switchyard: unknown command %q\n%s", cmd, usage)
		return exitError
	}
	o, err := parseFlags(cmd, args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "switchyard %s: %v\n%s", cmd, err, usage)
		return exitError
	}
	ctx := context.Background()
	switch cmd {
	case "probe":
		return probe(ctx, o, stdout, stderr)
	case "ws":
		return chat(ctx, o, stdin, stdout, stderr)
	default:
		return pipe(ctx, o, stdin, stdout, stderr)
	}
}

// options are a subcommand's flags and URL.
type options struct {
	url      string
	offer    []string
	headers  []string // "Name: value" lines, in order
	verbose  bool
	insecure bool
	h2       bool // an RFC 8441 extended CONNECT instead of an HTTP/1.1 upgrade
	timeout  time.Duration
}

func parseFlags(cmd string, args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("switchyard "+cmd, flag.ContinueOnError)
	// run reports a flag's error, once, with the usage; -h prints the
	// flags.
	fs.SetOutput(io.Discard)
	offer := ""
	if cmd != "ws" {
		help := "comma-separated tokens to offer, in order of preference (default websocket)"
		if cmd == "raw" {
			help = "the token to offer (required)"
		}
		fs.StringVar(&offer, "offer", "", help)
	}
	fs.Func("H", "add a request field 'Name: value' (repeatable; replaces a default field of that name)", func(s string) error {
		name, value, ok := strings.Cut(s, ":")
		if !ok || !httpsyntax.IsToken(name) || strings.ContainsAny(value, "\r\n") {
			return fmt.Errorf("want 'Name: value', got %q", s)
		}
		o.headers = append(o.headers, textproto.CanonicalMIMEHeaderKey(name)+": "+strings.TrimSpace(value))
		return nil
	})
	fs.BoolVar(&o.verbose, "v", false, "print timings (and, for ws and raw, the heads on standard error)")
	fs.BoolVar(&o.insecure, "k", false, "do not verify TLS certificates")
	fs.BoolVar(&o.h2, "h2", false, "send an RFC 8441 extended CONNECT over HTTP/2 (https, wss: TLS; http, ws: h2c with prior knowledge) instead of an HTTP/1.1 upgrade")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Second, "bound on connecting and the handshake")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stderr)
			fs.Usage()
		}
		return o, err
	}
	if fs.NArg() != 1 {
		return o, errors.New("want exactly one URL after the flags")
	}
	o.url = fs.Arg(0)
	for _, tok := range strings.Split(offer, ",") {
		if tok = strings.TrimSpace(tok); tok != "" {
			if name, version, slash := strings.Cut(tok, "/"); !httpsyntax.IsToken(name) || slash && !httpsyntax.IsToken(version) {
				return o, fmt.Errorf("-offer: %q is not a token or token/version", tok)
			}
			o.offer = append(o.offer, tok)
		}
	}
	switch {
	case cmd == "ws":
		o.offer = []string{"websocket"}
	case cmd == "raw" && len(o.offer) != 1:
		return o, errors.New("raw needs -offer with exactly one token")
	case len(o.offer) == 0:
		o.offer = []string{"websocket"}
	case o.h2 && len(o.offer) != 1:
		return o, errors.New("-h2 offers exactly one token: :protocol names one protocol")
	}
	if o.timeout <= 0 {
		return o, errors.New("-timeout must be positive")
	}
	return o, nil
}
