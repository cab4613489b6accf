package h2c

// growStack grows the calling goroutine's stack in one step, while it is
// still shallow.
//
// Serve runs in a goroutine the negotiator starts for each switch, with the
// smallest stack; x/net's HTTP/2 server loop then needs around 16 KB, which
// the runtime reaches by copying the stack again and again, each time with
// deeper frames to walk. On loopback that made an upgrade about 5% slower
// than x/net's h2c handler, which serves on net/http's goroutine whose stack
// has already grown (BenchmarkH2CUpgrade in benchmarks/). An 8 KB frame here
// makes the runtime grow the stack to 16 KB with a single copy of a few
// frames. The GC shrinks the stack again when the connection idles.
//
//go:noinline
func growStack(i int) byte {
	var b [8 << 10]byte
	return b[i&(len(b)-1)]
}
