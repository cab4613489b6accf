package negotiate_test

import (
	"encoding/json"
	"io"
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

// refusalRecords returns the refusal records logged, with their fields.
func refusalRecords(t *testing.T, logged string) []map[string]any {
	t.Helper()
	var recs []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(logged), "\n") {
		if line == "" {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("record %q: %v", line, err)
		}
		if rec["msg"] == "negotiate: upgrade refused" {
			recs = append(recs, rec)
		}
	}
	return recs
}

// A switch that a forced shutdown overtakes while the connection is
// hijacked is closed without an answer and reported to OnRefuse with
// status 0; it is logged as a refusal too, with the keys every refusal is
// logged with, as the same overtaken switch is on an HTTP/2 stream (a
// 503). It was not logged at all.
func TestOvertakenSwitchIsLogged(t *testing.T) {
	t.Parallel()
	var logged testkit.LockedBuffer
	refusals := make(chan negotiate.RefusalInfo, 1)
	n := testkit.NewNegotiator(t, &negotiate.Options{
		Logger:   slog.New(slog.NewJSONHandler(&logged, nil)),
		OnRefuse: func(i negotiate.RefusalInfo) { refusals <- i },
	})
	h := newHold()
	end := n.Endpoint(echoRegistry())
	srv := testkit.StartServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		end.ServeHTTP(holdWriter{w, h}, r)
	}))
	c := testkit.DialTCP(t, testkit.Addr(srv))
	if _, err := io.WriteString(c, testkit.UpgradeRequest("/held", "echo/1")); err != nil {
		t.Fatal(err)
	}
	testkit.Receive(t, h.reached, "the switch to be held")
	forceShutdown(t, n)
	close(h.released)
	testkit.ExpectClosed(t, c)
	if got := testkit.Receive(t, refusals, "OnRefuse"); got != (negotiate.RefusalInfo{Name: "echo"}) {
		t.Errorf("OnRefuse(%+v), want echo with status 0", got)
	}
	recs := refusalRecords(t, logged.String())
	if len(recs) != 1 {
		t.Fatalf("%d refusal records, want 1:\n%s", len(recs), logged.String())
	}
	want := map[string]any{"level": "INFO", "status": float64(0), "path": "/held", "upgrade": "echo/1"}
	for k, v := range want {
		if recs[0][k] != v {
			t.Errorf("record's %s = %v, want %v:\n%s", k, recs[0][k], v, logged.String())
		}
	}
	for _, k := range []string{"reason", "remote"} {
		if s, _ := recs[0][k].(string); s == "" {
			t.Errorf("record has no %s:\n%s", k, logged.String())
		}
	}
}

// OnRefuse reports every request an Endpoint answers 426, one that
// offers nothing included (a browser's plain GET at a WebSocket route),
// as metrics count it; a Middleware passes plain requests on unreported.
func TestOnRefusePlainRequests(t *testing.T) {
	t.Parallel()
	refusals := make(chan negotiate.RefusalInfo, 4)
	n := testkit.NewNegotiator(t, &negotiate.Options{OnRefuse: func(i negotiate.RefusalInfo) { refusals <- i }})
	mux := http.NewServeMux()
	mux.Handle("/endpoint", n.Endpoint(echoRegistry()))
	mux.Handle("/", n.Middleware(echoRegistry())(testkit.Plain))
	srv := testkit.StartServer(t, mux)
	for _, tc := range []struct {
		path   string
		status int
	}{{"/endpoint", 426}, {"/plain", 200}, {"/endpoint", 426}} {
		if x := testkit.Raw(t, testkit.Addr(srv), "GET "+tc.path+" HTTP/1.1\r\nHost: x\r\n\r\n"); x.Resp.StatusCode != tc.status {
			t.Fatalf("GET %s: %d, want %d", tc.path, x.Resp.StatusCode, tc.status)
		}
	}
	for range 2 {
		if got, want := testkit.Receive(t, refusals, "OnRefuse"), (negotiate.RefusalInfo{Status: 426}); got != want {
			t.Errorf("OnRefuse(%+v), want %+v", got, want)
		}
	}
	// The plain request the middleware passed on was not reported: the
	// next report is the refusal of the next upgrade.
	testkit.Raw(t, testkit.Addr(srv), testkit.UpgradeRequest("/plain", "echo/1", "Content-Length: 1")+"x")
	if got, want := testkit.Receive(t, refusals, "OnRefuse"), (negotiate.RefusalInfo{Name: "echo", Status: 413}); got != want {
		t.Errorf("OnRefuse(%+v), want %+v", got, want)
	}
	if s := n.Stats(); s.Refused != 3 {
		t.Errorf("Stats().Refused = %d, want 3", s.Refused)
	}
}

// A panic in Options.Authorize is logged as Authorize's, not as the
// protocol's: it is the program's own gate that failed, and the record
// must send whoever reads it there (it said "panic in protocol", as a
// panic in the protocol's Accept does).
func TestAuthorizePanicRecordNamesAuthorize(t *testing.T) {
	t.Parallel()
	var logged testkit.LockedBuffer
	n := testkit.NewNegotiator(t, &negotiate.Options{
		Logger: slog.New(slog.NewJSONHandler(&logged, &slog.HandlerOptions{Level: slog.LevelError})),
		Authorize: func(s *negotiate.Switch) error {
			if s.Token == "guarded/1" {
				panic("gate bug")
			}
			return nil
		},
	})
	reg := new(negotiate.Registry)
	reg.HandleFunc("guarded/1", testkit.EchoConn)
	reg.Register("broken/1", negotiate.Protocol{Accept: func(*negotiate.Switch) (func(*negotiate.Conn) error, error) {
		panic("accept bug")
	}})
	srv := testkit.StartServer(t, n.Endpoint(reg))
	for _, offer := range []string{"guarded/1", "broken/1"} {
		if x := testkit.Raw(t, testkit.Addr(srv), testkit.UpgradeRequest("/", offer)); x.Resp.StatusCode != http.StatusInternalServerError {
			t.Fatalf("%s: %d, want 500", offer, x.Resp.StatusCode)
		}
	}
	want := []string{`"msg":"negotiate: panic in Authorize; recovered","panic":"gate bug"`,
		`"msg":"negotiate: panic in protocol; recovered","panic":"accept bug"`}
	testkit.Contains(t, "the panics' records", logged.String(), want...)
}
