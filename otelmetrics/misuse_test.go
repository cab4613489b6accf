package otelmetrics_test

import (
	"strings"
	"testing"

	"github.com/switchyard-http/switchyard/otelmetrics"
)

// A Recorder not made by NewRecorder has no instruments: NewNegotiator
// says so with an error, instead of returning a negotiator whose hooks
// panic at every upgrade (each recovered and counted in Stats.Panics,
// nothing recorded).
func TestNewNegotiatorNeedsNewRecorder(t *testing.T) {
	t.Parallel()
	var zero otelmetrics.Recorder
	var nilR *otelmetrics.Recorder
	for name, r := range map[string]*otelmetrics.Recorder{"zero": &zero, "nil": nilR} {
		err := func() (err error) {
			defer func() {
				if p := recover(); p != nil {
					t.Errorf("%s Recorder: NewNegotiator panicked: %v", name, p)
				}
			}()
			_, err = r.NewNegotiator(nil)
			return err
		}()
		if err == nil || !strings.HasPrefix(err.Error(), "otelmetrics: ") {
			t.Errorf("%s Recorder: NewNegotiator error %v, want otelmetrics' own", name, err)
		}
	}
}
