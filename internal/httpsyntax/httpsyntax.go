// Package httpsyntax holds the pieces of HTTP field syntax (RFC 9110 §5)
// that the negotiator and the protocols share: tokens, field values, and
// the one iterator over comma-separated lists spread over field lines.
package httpsyntax

import "strings"

// IsToken reports whether s is a token (RFC 9110 §5.6.2).
func IsToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !IsTchar(s[i]) {
			return false
		}
	}
	return true
}

// IsTchar reports whether c is a tchar (RFC 9110 §5.6.2).
func IsTchar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// ValidFieldValue rejects control characters other than HTAB (RFC 9110
// §5.5), so that no value can split a response.
func ValidFieldValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// TrimOWS removes optional whitespace (SP, HTAB) from both ends of s.
func TrimOWS(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// List walks the elements of a comma-separated list spread over several
// field lines (RFC 9110 §5.6.1) without allocating: empty elements and
// optional whitespace are skipped, as recipients must. The zero List over
// Lines is ready to use.
type List struct {
	Lines []string
	cur   string
}

// Next returns the next non-empty element, or ok false at the end.
func (l *List) Next() (elem string, ok bool) {
	for {
		for l.cur == "" {
			if len(l.Lines) == 0 {
				return "", false
			}
			l.cur, l.Lines = l.Lines[0], l.Lines[1:]
		}
		if i := strings.IndexByte(l.cur, ','); i >= 0 {
			elem, l.cur = l.cur[:i], l.cur[i+1:]
		} else {
			elem, l.cur = l.cur, ""
		}
		if elem = TrimOWS(elem); elem != "" {
			return elem, true
		}
	}
}
