package httpsyntax

import (
	"strings"
	"testing"
)

func TestListIter(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		lines []string
		want  string
	}{
		{nil, ""},
		{[]string{""}, ""},
		{[]string{"a"}, "a"},
		{[]string{" a , b ,,", "", "\tc"}, "a|b|c"},
		{[]string{",,,", " , "}, ""},
	} {
		var got []string
		it := List{Lines: tc.lines}
		for e, ok := it.Next(); ok; e, ok = it.Next() {
			got = append(got, e)
		}
		if strings.Join(got, "|") != tc.want {
			t.Errorf("elements of %q: got %q, want %q", tc.lines, got, tc.want)
		}
	}
}

func TestTokensAndValues(t *testing.T) {
	for _, tc := range []struct {
		s            string
		token, value bool
	}{
		{"websocket", true, true},
		{"kv/2", false, true},
		{"", false, true},
		{"a b", false, true},
		{"a\tb", false, true},
		{"x\r\nSet-Cookie: y", false, false},
		{"nul\x00", false, false},
		{"del\x7f", false, false},
	} {
		if got := IsToken(tc.s); got != tc.token {
			t.Errorf("IsToken(%q) = %v, want %v", tc.s, got, tc.token)
		}
		if got := ValidFieldValue(tc.s); got != tc.value {
			t.Errorf("ValidFieldValue(%q) = %v, want %v", tc.s, got, tc.value)
		}
	}
}
