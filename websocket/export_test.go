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
