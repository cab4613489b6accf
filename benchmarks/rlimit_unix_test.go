//go:build unix

package benchmarks

import (
	"syscall"
	"testing"
)

// raiseFileLimit makes sure the process may hold want descriptors (both
// ends of every idle connection live in it), raising the soft limit if
// needed, or skips.
func raiseFileLimit(tb testing.TB, want uint64) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		tb.Logf("getrlimit: %v; hoping for %d descriptors", err, want)
		return
	}
	if uint64(rl.Cur) >= want { // the fields are int64 on FreeBSD and DragonFly
		return
	}
	if uint64(rl.Max) < want {
		tb.Skipf("open file limit is %d (hard), this needs %d", rl.Max, want)
	}
	setLimit(&rl.Cur, want)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		tb.Skipf("raising the open file limit to %d: %v", want, err)
	}
}

// setLimit sets an Rlimit field, whatever its integer type, to v.
func setLimit[T int64 | uint64](p *T, v uint64) { *p = T(v) }
