// Package stack grows a fresh goroutine's stack in one step, while it is
// still shallow.
//
// The negotiator serves every switched connection in a goroutine of its
// own, which starts with the runtime's smallest stack. An engine that needs
// more (gorilla's read and write paths about 4 KB, x/net's HTTP/2 server
// loop about 16 KB) would otherwise reach it by copying the stack at its
// deepest points, where each copy walks every frame: CPU profiles of the
// handshake benchmarks showed those copies as the largest difference to the
// engines used directly. A large frame at the top of the goroutine makes
// the runtime grow the stack with a single copy of a few frames. The GC
// shrinks it again if the connection idles with little stack in use.
package stack

// Grow4K grows the calling goroutine's stack to at least 4 KB.
//
//go:noinline
func Grow4K() byte { return grow2K(0) }

// Grow16K grows the calling goroutine's stack to at least 16 KB.
//
//go:noinline
func Grow16K() byte { return grow8K(0) }

//go:noinline
func grow2K(i int) byte {
	var b [2 << 10]byte
	return b[i&(len(b)-1)]
}

//go:noinline
func grow8K(i int) byte {
	var b [8 << 10]byte
	return b[i&(len(b)-1)]
}
