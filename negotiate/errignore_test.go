package negotiate_test

import (
	"net/http"
	"testing"

	"github.com/switchyard-http/switchyard/internal/testkit"
	"github.com/switchyard-http/switchyard/negotiate"
)

// ErrIgnore is Check's: returned from Accept, which runs once the offer
// is chosen, it does not pass the request on but fails it, 500, as any
// error that is not an *Error, reported as the server's failure.
func TestErrIgnoreFromAcceptIsAFailure(t *testing.T) {
	refusals := make(chan negotiate.RefusalInfo, 1)
	reg := new(negotiate.Registry)
	reg.Register("kv", negotiate.Protocol{
		Accept: func(*negotiate.Switch) (func(*negotiate.Conn) error, error) { return nil, negotiate.ErrIgnore },
	})
	n := testkit.NewNegotiator(t, &negotiate.Options{OnRefuse: func(ri negotiate.RefusalInfo) { refusals <- ri }})
	srv := testkit.StartServer(t, n.Middleware(reg)(testkit.Plain))
	x := testkit.Raw(t, testkit.Addr(srv), testkit.UpgradeRequest("/", "kv"))
	if x.Resp.StatusCode != http.StatusInternalServerError {
		t.Errorf("%s %q, want 500", x.Resp.Status, x.Body)
	}
	if ri := testkit.Receive(t, refusals, "the refusal"); !ri.Failed || ri.Status != http.StatusInternalServerError {
		t.Errorf("OnRefuse %+v, want a failure answered 500", ri)
	}
}

// Switch.Header is the ResponseWriter's header: a refusal that comes after
// Authorize or Accept added fields for the switch goes out with them, as
// the doc says.
func TestRefusalAfterFieldsAdded(t *testing.T) {
	reg := new(negotiate.Registry)
	reg.Register("sess/1", negotiate.Protocol{
		Accept: func(s *negotiate.Switch) (func(*negotiate.Conn) error, error) {
			s.Header.Set("Session-Id", "42")
			return nil, negotiate.Refusal(http.StatusConflict, "no room")
		},
	})
	_, srv := testkit.Endpoint(t, &negotiate.Options{Authorize: func(s *negotiate.Switch) error {
		s.Header.Set("Set-Cookie", "auth=ok")
		return nil
	}}, reg)
	x := testkit.Raw(t, testkit.Addr(srv), testkit.UpgradeRequest("/", "sess/1"))
	if x.Resp.StatusCode != http.StatusConflict {
		t.Fatalf("%s %q, want 409", x.Resp.Status, x.Body)
	}
	if c, id := x.Resp.Header.Get("Set-Cookie"), x.Resp.Header.Get("Session-Id"); c != "auth=ok" || id != "42" {
		t.Errorf("the refusal's Set-Cookie %q and Session-Id %q, want Authorize's and Accept's fields", c, id)
	}
}
