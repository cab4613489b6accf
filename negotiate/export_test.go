package negotiate

import "sync"

// ResolvedOptions returns the options n runs with, defaults filled in.
func ResolvedOptions(n *Negotiator) Options { return n.opts }

// HoldEnteredWrite makes the first Write on an HTTP/2 stream wait, once it
// has entered the stream and before it takes its turn, until the stream's
// end or Close has dealt with the writes under way; entered is closed when
// that write waits; restore undoes it.
func HoldEnteredWrite() (entered <-chan struct{}, restore func()) {
	in, settled := make(chan struct{}), make(chan struct{})
	var first, once sync.Once
	enter, done := func() {
		first.Do(func() {
			close(in)
			<-settled
		})
	}, func() { once.Do(func() { close(settled) }) }
	testHookWriteEntered.Store(&enter)
	testHookWritesSettled.Store(&done)
	return in, func() {
		testHookWriteEntered.Store(nil)
		testHookWritesSettled.Store(nil)
	}
}
