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
