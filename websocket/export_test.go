package websocket

// Resolve is resolve for the package's external tests: the options a
// protocol made by New with opts runs with, its defaults applied.
func Resolve(opts *Options) (Options, error) { return resolve(opts) }
