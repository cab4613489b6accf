//go:build unix

package child

import (
	"fmt"
	"syscall"
)

// FileLimit makes sure this process may hold want descriptors: Go already
// raises the soft RLIMIT_NOFILE to the hard one at start-up on Linux; on
// other systems, or if something lowered it, this raises it to the hard
// limit. It returns the soft limit in force, and an error if that is below
// want (the hard limit must then be raised, e.g. ulimit -n as root).
func FileLimit(want uint64) (uint64, error) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, nil // unknown: try anyway
	}
	if rl.Cur < want && rl.Cur < rl.Max {
		rl.Cur = rl.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err == nil {
			_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl)
		}
	}
	if rl.Cur < want {
		return rl.Cur, fmt.Errorf("open file limit is %d (hard %d), this run needs about %d: raise it (ulimit -n)", rl.Cur, rl.Max, want)
	}
	return rl.Cur, nil
}
