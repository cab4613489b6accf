package websocket

// Resolve is resolve for the package's external tests: the options a
// protocol made by New with opts runs with, its defaults applied.
func Resolve(opts *Options) (Options, error) { return resolve(opts) }

// ReadAhead reports what c's reads hold, for the reading goroutine (the
// handler, between its reads): the bytes read ahead and not yet taken,
// the size of the lent buffer holding them (0: none lent), and whether the
// connection reads its socket ahead at all.
func ReadAhead(c *Conn) (buffered, lent int, socket bool) {
	ra := &c.wire.ra
	if ra.lent != nil {
		lent = len(*ra.lent)
	}
	return ra.buffered(), lent, ra.rc != nil
}

// KeepAliveStopped reports whether c's keep-alive has stopped: no run of
// it can start again, and its protocol's schedule no longer holds c.
func KeepAliveStopped(c *Conn) bool {
	k, s := &c.ka, &c.p.keepAlive
	k.mu.Lock()
	defer k.mu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	return k.stopped && k.slot == 0
}
