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
	// The fields are uint64, but int64 on FreeBSD and DragonFly.
	cur, hard := uint64(rl.Cur), uint64(rl.Max)
	if cur < want && cur < hard {
		rl.Cur = rl.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err == nil {
			_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl)
		}
		cur = uint64(rl.Cur)
	}
	if cur < want {
		return cur, fmt.Errorf("open file limit is %d (hard %d), this run needs about %d: raise it (ulimit -n)", cur, hard, want)
	}
	return cur, nil
}
