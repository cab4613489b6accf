package metrics_test

import (
	"strings"
	"testing"

	"github.com/switchyard-http/switchyard/metrics"
)

// A Recorder not made by NewRecorder cannot record: NewNegotiator says so
// with an error, instead of returning a negotiator whose hooks panic at
// every upgrade (each recovered and counted in Stats.Panics, the metrics
// silently empty).
func TestNewNegotiatorNeedsNewRecorder(t *testing.T) {
	t.Parallel()
	var zero metrics.Recorder
	var nilR *metrics.Recorder
	for name, r := range map[string]*metrics.Recorder{"zero": &zero, "nil": nilR} {
		n, err := func() (n any, err error) {
			defer func() {
				if p := recover(); p != nil {
					t.Errorf("%s Recorder: NewNegotiator panicked: %v", name, p)
				}
			}()
			return r.NewNegotiator(nil)
		}()
		if err == nil {
			t.Errorf("%s Recorder: NewNegotiator returned %T and no error", name, n)
		} else if !strings.HasPrefix(err.Error(), "metrics: ") {
			t.Errorf("%s Recorder: error %q", name, err)
		}
	}
}

// WriteText refuses a namespace that would make names outside the text
// format's [a-zA-Z_:][a-zA-Z0-9_:]* (a scraper rejects the whole
// exposition), and writes nothing then.
func TestWriteTextRefusesBadNamespace(t *testing.T) {
	t.Parallel()
	r := metrics.NewRecorder()
	for _, ns := range []string{"my-app", "1st", "a b", "é", "ns\n# TYPE x counter"} {
		var b strings.Builder
		if err := r.WriteText(&b, ns); err == nil || b.Len() != 0 {
			t.Errorf("WriteText(%q) = %v, wrote %d bytes; want an error and nothing", ns, err, b.Len())
		}
	}
	for _, ns := range []string{"", "switchyard", "my_app", "_x", "a:b", "App2"} {
		var b strings.Builder
		if err := r.WriteText(&b, ns); err != nil || !strings.Contains(b.String(), "upgrade_attempts_total") {
			t.Errorf("WriteText(%q) = %v, %q", ns, err, b.String())
		}
	}
}
