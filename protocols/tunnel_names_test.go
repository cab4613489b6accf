package protocols_test

import (
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"

	"github.com/switchyard-http/switchyard/internal/testkit"
	"github.com/switchyard-http/switchyard/negotiate"
	"github.com/switchyard-http/switchyard/protocols"
)

// The middleware's connections and refusals are reported under
// TunnelName, whatever token the client offered: tokens a client invents
// add no name to Stats, the hooks or the limits (and so no metric series,
// no counters kept for the process's life). The token stays in
// ConnInfo.Token, and ProtocolMaxConns[TunnelName] limits the middleware.
func TestTunnelMiddlewareNamesNoClientToken(t *testing.T) {
	t.Parallel()
	be := backend(t)
	var mu sync.Mutex
	var refused []negotiate.RefusalInfo
	gw, gn, infos := gateway(t, be.URL, nil, &negotiate.Options{
		ProtocolMaxConns: map[string]int{protocols.TunnelName: 1},
		OnRefuse: func(ri negotiate.RefusalInfo) {
			mu.Lock()
			defer mu.Unlock()
			refused = append(refused, ri)
		},
	})
	const invented = 20
	for i := range invented {
		// The backend has none of these: each is refused, relayed.
		e := testkit.Raw(t, testkit.Addr(gw), testkit.UpgradeRequest("/", fmt.Sprintf("Client-Made-%d/1", i)))
		if e.Resp.StatusCode == http.StatusSwitchingProtocols {
			t.Fatalf("invented token %d switched", i)
		}
	}
	e := testkit.Raw(t, testkit.Addr(gw), testkit.UpgradeRequest("/", "echo/1"))
	if e.Resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("echo/1: status %d, want 101", e.Resp.StatusCode)
	}
	// The one slot of TunnelName is taken: the next tunnel is refused.
	over := testkit.Raw(t, testkit.Addr(gw), testkit.UpgradeRequest("/", "info"))
	if over.Resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("second tunnel under ProtocolMaxConns[%q] 1: status %d, want 503", protocols.TunnelName, over.Resp.StatusCode)
	}
	if _, err := io.WriteString(e.Conn, "hi"); err != nil {
		t.Fatal(err)
	}
	testkit.CloseWrite(t, e.Conn)
	if got := testkit.ReadAll(t, e.BR); got != "hi" {
		t.Errorf("echo %q, want %q", got, "hi")
	}
	if i := infos.Next(t); i.Name != protocols.TunnelName || i.Token != "echo/1" {
		t.Errorf("OnClose Name %q Token %q, want %q and the token as offered", i.Name, i.Token, protocols.TunnelName)
	}
	s := gn.Stats()
	if len(s.Switched) != 1 || s.Switched[protocols.TunnelName] != 1 || len(s.Active) != 1 {
		t.Errorf("Stats Switched %v Active %v, want the one name %q", s.Switched, s.Active, protocols.TunnelName)
	}
	// A refusal is reported after its answer is written: wait for all.
	testkit.WaitFor(t, "every refusal reported", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(refused) == invented+1
	})
	mu.Lock()
	defer mu.Unlock()
	for _, ri := range refused {
		if ri.Name != protocols.TunnelName {
			t.Errorf("OnRefuse Name %q (status %d), want %q", ri.Name, ri.Status, protocols.TunnelName)
		}
	}
}
