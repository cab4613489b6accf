package negotiate

import (
	"context"
	"net/http"
	"sync"
	"time"
)

// connContext is a Conn's context: the upgrade request's values, cancelled
// when the negotiator shuts down or the connection closes. It lives in the
// Conn, so asking for it allocates nothing, and it implements AfterFunc,
// which context.AfterFunc and context.WithCancel use in place of the
// children map of a cancelCtx: an engine's shutdown watch over an idle
// connection costs a few small objects instead of several hundred bytes.
type connContext struct {
	req *http.Request

	mu       sync.Mutex
	done     chan struct{} // made by Done
	canceled bool
	funcs    [2]func() // registered by AfterFunc, nil when stopped
	more     *[]func() // beyond funcs, rarely
}

var _ context.Context = (*connContext)(nil)

func (x *connContext) Deadline() (time.Time, bool) { return time.Time{}, false }

func (x *connContext) Done() <-chan struct{} {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.done == nil {
		x.done = make(chan struct{})
		if x.canceled {
			close(x.done)
		}
	}
	return x.done
}

func (x *connContext) Err() error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.canceled {
		return context.Canceled
	}
	return nil
}

// Value returns the upgrade request's values. The request's context is seen
// through context.WithoutCancel, so that the context package never takes
// the request's (ended) cancellation for this context's; asking costs a
// small allocation, which a connection that never asks does not keep.
func (x *connContext) Value(key any) any {
	return context.WithoutCancel(x.req.Context()).Value(key)
}

func (x *connContext) String() string { return "negotiate.Conn.Context" }

// AfterFunc arranges for f to run in its own goroutine once the context is
// cancelled (at once if it is already), as context.AfterFunc does; stop
// reports whether it kept f from running.
func (x *connContext) AfterFunc(f func()) (stop func() bool) {
	x.mu.Lock()
	if x.canceled {
		x.mu.Unlock()
		go f()
		return func() bool { return false }
	}
	i := -1
	for j := range x.funcs {
		if x.funcs[j] == nil {
			x.funcs[j], i = f, j
			break
		}
	}
	if i < 0 {
		if x.more == nil {
			x.more = new([]func())
		}
		*x.more = append(*x.more, f)
		i = len(x.funcs) + len(*x.more) - 1
	}
	x.mu.Unlock()
	return func() bool {
		x.mu.Lock()
		defer x.mu.Unlock()
		var slot *func()
		if i < len(x.funcs) {
			slot = &x.funcs[i]
		} else {
			slot = &(*x.more)[i-len(x.funcs)]
		}
		registered := *slot != nil
		*slot = nil
		return registered
	}
}

// cancel ends the context, once, and starts the funcs registered with
// AfterFunc.
func (x *connContext) cancel() {
	x.mu.Lock()
	if x.canceled {
		x.mu.Unlock()
		return
	}
	x.canceled = true
	if x.done != nil {
		close(x.done)
	}
	var run []func()
	for i, f := range x.funcs {
		if f != nil {
			run = append(run, f)
			x.funcs[i] = nil
		}
	}
	if x.more != nil {
		for i, f := range *x.more {
			if f != nil {
				run = append(run, f)
				(*x.more)[i] = nil
			}
		}
	}
	x.mu.Unlock()
	for _, f := range run {
		go f()
	}
}
