package negotiate

import (
	"bytes"
	"log/slog"
	"net/http"
	"strings"
	"testing"
)

// A Logger that drops Debug costs a switch nothing: the switched and closed
// records' arguments are built only for a logger that takes them (each
// argument of a dropped slog call is still an allocation).
func TestDroppedDebugRecordsDoNotAllocate(t *testing.T) {
	var logs bytes.Buffer
	c := &Conn{sw: Switch{Token: "echo/1", Request: &http.Request{RemoteAddr: "127.0.0.1:9"}}, e: &entry{name: "echo/1"}}
	info := c.Info()
	for _, tc := range []struct {
		level  slog.Level
		logged bool
	}{{slog.LevelInfo, false}, {slog.LevelDebug, true}} {
		logs.Reset()
		n := &Negotiator{opts: Options{Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: tc.level}))}}
		allocs := testing.AllocsPerRun(100, func() {
			n.logSwitched(c)
			n.logClosed(&info)
		})
		got := strings.Count(logs.String(), "negotiate: switched") > 0 && strings.Count(logs.String(), "negotiate: closed") > 0
		if got != tc.logged {
			t.Errorf("level %v: logged %v, want %v:\n%s", tc.level, got, tc.logged, logs.String())
		}
		if !tc.logged && allocs != 0 {
			t.Errorf("level %v: a dropped switched and closed record cost %v allocations, want 0", tc.level, allocs)
		}
	}
}
