package negotiate_test

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/switchyard-http/switchyard/internal/testkit"
	"github.com/switchyard-http/switchyard/negotiate"
)

// hookPanicNegotiator has an OnRefuse that panics, and logs the recovered
// panics as JSON, one record a line, to logged.
func hookPanicNegotiator(t *testing.T, logged *testkit.LockedBuffer) (*negotiate.Negotiator, *negotiate.Registry) {
	t.Helper()
	n := testkit.NewNegotiator(t, &negotiate.Options{
		Logger:   slog.New(slog.NewJSONHandler(logged, &slog.HandlerOptions{Level: slog.LevelError})),
		OnRefuse: func(negotiate.RefusalInfo) { panic("observer bug") },
	})
	reg := new(negotiate.Registry)
	reg.Register("keyed", negotiate.Protocol{
		Check: func(*http.Request) error { return negotiate.Refusal(http.StatusBadRequest, "no key") },
		Accept: func(*negotiate.Switch) (func(*negotiate.Conn) error, error) {
			return testkit.EchoConn, nil
		},
	})
	return n, reg
}

// hookPanicTokens returns the token of each recovered OnRefuse panic's
// record, sorted: each is logged after its refusal's answer, so a later
// request's may come first.
func hookPanicTokens(t *testing.T, logged string) []string {
	t.Helper()
	var tokens []string
	for _, line := range strings.Split(strings.TrimSpace(logged), "\n") {
		var rec struct {
			Msg   string
			Token *string
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("record %q: %v", line, err)
		}
		if rec.Msg != "negotiate: panic in OnRefuse hook; recovered" {
			continue
		}
		if rec.Token == nil {
			t.Fatalf("record %q has no token", line)
		}
		tokens = append(tokens, *rec.Token)
	}
	slices.Sort(tokens)
	return tokens
}

// A panic in OnRefuse is logged with the token of the protocol the
// refusal concerns, as a panic in its Check is, on HTTP/1.1 as on HTTP/2:
// never the client's Upgrade field, which holds whatever it offered (the
// record had it whole over HTTP/1.1, and an empty token over HTTP/2), and
// "" when no registered protocol was concerned, as RefusalInfo.Name is.
func TestOnRefusePanicRecordNamesTheProtocol(t *testing.T) {
	t.Parallel()
	var logged testkit.LockedBuffer
	n, reg := hookPanicNegotiator(t, &logged)
	srv := testkit.StartServer(t, n.Endpoint(reg))
	for _, offer := range []string{"nope/9, Keyed/2", "nope/9, made-up-by-the-client"} {
		testkit.Raw(t, testkit.Addr(srv), testkit.UpgradeRequest("/", offer))
	}
	testkit.WaitFor(t, "two records", func() bool { return len(hookPanicTokens(t, logged.String())) == 2 })
	if got, want := hookPanicTokens(t, logged.String()), []string{"", "keyed"}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("OnRefuse panic records' tokens %q, want %q:\n%s", got, want, logged.String())
	}
}

func TestOnRefusePanicRecordNamesTheProtocolOverH2(t *testing.T) {
	testkit.EachXConnect(t, func(t *testing.T, useTLS bool) {
		var logged testkit.LockedBuffer
		n, reg := hookPanicNegotiator(t, &logged)
		srv := testkit.StartH2Server(t, n.Endpoint(reg), n, useTLS)
		client := testkit.XClient(t, srv, useTLS)
		for _, protocol := range []string{"keyed", "made-up-by-the-client"} {
			if _, _, err := testkit.XDial(t, client, srv.URL, protocol, nil); err == nil {
				t.Fatalf("%s switched", protocol)
			}
		}
		testkit.WaitFor(t, "two records", func() bool { return len(hookPanicTokens(t, logged.String())) == 2 })
		if got, want := hookPanicTokens(t, logged.String()), []string{"", "keyed"}; strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("OnRefuse panic records' tokens %q, want %q:\n%s", got, want, logged.String())
		}
	})
}
