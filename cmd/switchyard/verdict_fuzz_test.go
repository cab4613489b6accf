package main

import (
	"bufio"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/switchyard-http/switchyard/internal/upgrade"
)

// FuzzJudge holds probe's verdict on a response head from hostile bytes
// to what doc.go says it applies: a valid 101 is one the rule every
// client of the module applies (upgrade.CheckSwitch) takes and, where
// Upgrade names websocket in any element of its list, one whose
// Sec-WebSocket-Accept matches the key and whose subprotocol and
// extension were offered (RFC 6455 §4.1); a 101 that meets both is valid;
// nothing else is.
func FuzzJudge(f *testing.F) {
	const key = "dGhlIHNhbXBsZSBub25jZQ=="
	accept := "Sec-WebSocket-Accept: " + acceptKey(key)
	for _, seed := range []struct {
		status int
		fields string
		ws     bool
	}{
		{101, "Upgrade: websocket\nConnection: Upgrade\n" + accept, true},
		{101, "Upgrade: websocket\nConnection: Upgrade", true},
		{101, "Upgrade: websocket\nConnection: Upgrade\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo", true},
		{101, "Upgrade: , websocket\nConnection: Upgrade", true},
		{101, "Upgrade: \nUpgrade: WebSocket\nConnection: upgrade\n" + accept, true},
		{101, "Upgrade: websocket\nConnection: Upgrade\nSec-WebSocket-Protocol: chat\nSec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\n" + accept, true},
		{101, "Upgrade: websocket\nConnection: Upgrade\nSec-WebSocket-Protocol: other\n" + accept, true},
		{101, "Upgrade: echo/1\nConnection: keep-alive, Upgrade", false},
		{101, "Upgrade: echo/1, echo/2\nConnection: Upgrade", false},
		{101, "Upgrade: echo/2\nConnection: Upgrade", false},
		{200, "Upgrade: echo/1\nConnection: Upgrade", false},
		{426, "Upgrade: websocket\nSec-WebSocket-Version: 13", true},
	} {
		f.Add(seed.status, seed.fields, seed.ws)
	}
	f.Fuzz(func(t *testing.T, status int, fields string, ws bool) {
		if status < 0 || status > 999 {
			return
		}
		head := fmt.Sprintf("HTTP/1.1 %03d X\r\n", status) + strings.ReplaceAll(fields, "\n", "\r\n") + "\r\n\r\n"
		resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(head)), nil)
		if err != nil {
			return
		}
		offer := []string{"echo/1"}
		header := http.Header{}
		if ws {
			offer = []string{"websocket"}
			header = http.Header{"Sec-WebSocket-Protocol": {"chat"}, "Sec-WebSocket-Extensions": {"permessage-deflate"}}
		}
		e := &exchange{offer: offer, header: header, wsKey: key, res: &upgrade.Result{Response: resp}}
		v := judge(e)

		want := resp.StatusCode == http.StatusSwitchingProtocols && upgrade.CheckSwitch(resp, offer) == nil
		if want && namesWebSocket(resp.Header["Upgrade"]) {
			h := resp.Header
			want = h.Get("Sec-WebSocket-Accept") == acceptKey(key) &&
				(h.Get("Sec-WebSocket-Protocol") == "" || ws && strings.EqualFold(h.Get("Sec-WebSocket-Protocol"), "chat"))
			if x := h.Get("Sec-WebSocket-Extensions"); x != "" {
				name, _, _ := strings.Cut(x, ";")
				want = want && ws && strings.EqualFold(strings.TrimSpace(name), "permessage-deflate")
			}
		}
		if v.valid != want {
			t.Fatalf("verdict valid = %v, want %v, for %q offering %q:\n%s", v.valid, want, head, offer, v)
		}
	})
}

// namesWebSocket reports whether an Upgrade list names websocket, in any
// version, in any of its elements (RFC 9110 §5.6.1, §7.8).
func namesWebSocket(lines []string) bool {
	for _, line := range lines {
		for _, e := range strings.Split(line, ",") {
			name, _, _ := strings.Cut(strings.Trim(e, " \t"), "/")
			if strings.EqualFold(name, "websocket") {
				return true
			}
		}
	}
	return false
}
