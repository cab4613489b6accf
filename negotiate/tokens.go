package negotiate

import (
	"net/http"
	"strings"

	"github.com/switchyard-http/switchyard/internal/httpsyntax"
)

// This file holds the one token-list parser for Upgrade and Connection
// (RFC 9110 §5.6.1 lists, §7.6.1 Connection, §7.8 Upgrade).

// tokenIter walks a comma-separated token list spread over several field
// lines without allocating. Empty elements and optional whitespace are
// skipped, as RFC 9110 §5.6.1 asks of recipients.
type tokenIter struct {
	list httpsyntax.List
	// versioned allows "name/version" elements (Upgrade); Connection
	// elements are plain tokens.
	versioned bool
}

func newTokenIter(values []string, versioned bool) tokenIter {
	return tokenIter{list: httpsyntax.List{Lines: values}, versioned: versioned}
}

// next returns the next element. ok is false at the end of the list; err is
// non-nil when an element is not a token (or name/version).
func (it *tokenIter) next() (tok string, ok bool, err error) {
	elem, ok := it.list.Next()
	if !ok {
		return "", false, nil
	}
	if !validElement(elem, it.versioned) {
		return "", false, errMalformed
	}
	return elem, true, nil
}

// validElement reports whether s is a token, or, when versioned, a
// protocol: token ["/" token].
func validElement(s string, versioned bool) bool {
	name, version, slash := s, "", false
	if versioned {
		name, version, slash = strings.Cut(s, "/")
	}
	if !isToken(name) {
		return false
	}
	return !slash || isToken(version)
}

func isToken(s string) bool { return httpsyntax.IsToken(s) }

// splitProtocol splits "name/version" into its parts.
func splitProtocol(tok string) (name, version string) {
	name, version, _ = strings.Cut(tok, "/")
	return name, version
}

// ContainsToken reports whether the comma-separated token lists in values
// (the field lines of one header, such as r.Header["Connection"]) contain
// token, compared case-insensitively. Malformed elements are skipped; use
// [Offers] to validate a request's lists.
func ContainsToken(values []string, token string) bool {
	it := newTokenIter(values, true)
	for {
		tok, ok, err := it.next()
		if err != nil {
			continue
		}
		if !ok {
			return false
		}
		if strings.EqualFold(tok, token) {
			return true
		}
	}
}

// IsUpgrade reports whether r asks to switch protocols: either an
// HTTP/1.1 request whose Connection list contains "upgrade" and whose
// Upgrade field is not empty (an element, not only whitespace and commas),
// or an HTTP/2 extended CONNECT (RFC 8441 §4:
// method CONNECT with a :protocol pseudo-header, which Go's HTTP/2 servers
// put in r.Header[":protocol"]). Upgrade on HTTP/1.0 is ignored (RFC 9110
// §7.8), and so is Upgrade on HTTP/2, where it is not allowed (RFC 9113
// §8.2.2). IsUpgrade does not allocate and does not validate the offers;
// [Offers] does.
func IsUpgrade(r *http.Request) bool {
	if r.ProtoMajor != 1 {
		return isExtendedConnect(r)
	}
	if r.ProtoMinor < 1 {
		return false
	}
	if !hasElement(r.Header["Upgrade"]) {
		return false
	}
	return ContainsToken(r.Header["Connection"], "upgrade")
}

// hasElement reports whether the field lines of a list hold an element:
// anything but whitespace and commas (RFC 9110 §5.6.1).
func hasElement(lines []string) bool {
	for _, l := range lines {
		for i := 0; i < len(l); i++ {
			if c := l[i]; c != ' ' && c != '\t' && c != ',' {
				return true
			}
		}
	}
	return false
}

// isExtendedConnect reports whether r is an extended CONNECT: an HTTP/2 or
// later CONNECT that names the protocol to run on its stream.
func isExtendedConnect(r *http.Request) bool {
	return r.ProtoMajor >= 2 && r.Method == http.MethodConnect && len(r.Header[":protocol"]) > 0
}

// Offers returns the protocols r offers, in the client's order of
// preference, as they were sent ("websocket", "foo/2"): the elements of
// its Upgrade field, or the one :protocol of an extended CONNECT. It
// returns nil if r is not an upgrade request (see [IsUpgrade]), and an
// [*Error] with status 400 if an offer is not a token (or token/version)
// or the Connection list holds an element that is not a token.
func Offers(r *http.Request) ([]string, error) {
	if !IsUpgrade(r) {
		return nil, nil
	}
	if r.ProtoMajor != 1 {
		p, err := extendedProtocol(r)
		if err != nil {
			return nil, err
		}
		return []string{p}, nil
	}
	if err := validateList(r.Header["Connection"], false); err != nil {
		return nil, err
	}
	var offers []string
	it := newTokenIter(r.Header["Upgrade"], true)
	for {
		tok, ok, err := it.next()
		if err != nil {
			return nil, errMalformedUpgrade
		}
		if !ok {
			return offers, nil
		}
		offers = append(offers, tok)
	}
}

// extendedProtocol returns the protocol an extended CONNECT names: one
// token or token/version, never a list.
func extendedProtocol(r *http.Request) (string, error) {
	ps := r.Header[":protocol"]
	if len(ps) != 1 || !validElement(ps[0], true) {
		return "", errMalformedProtocol
	}
	return ps[0], nil
}

// validateList checks every element of an Upgrade list (versioned) or a
// Connection list, and returns the 400 that refuses a malformed one.
func validateList(values []string, versioned bool) error {
	it := newTokenIter(values, versioned)
	for {
		_, ok, err := it.next()
		switch {
		case err != nil && versioned:
			return errMalformedUpgrade
		case err != nil:
			return errMalformedConnection
		case !ok:
			return nil
		}
	}
}
