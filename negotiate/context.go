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
	funcs    [2]func()  // registered by AfterFunc, nil when stopped
	more     *moreFuncs // beyond funcs, rarely
}

// moreFuncs holds the registrations beyond a connContext's inline slots.
// Stopped slots are reused, so that a connection that registers and stops
// (a context.WithTimeout child per message) keeps as many slots as it ever
// had registrations at once, not one per registration.
type moreFuncs struct {
	slots []moreSlot
	free  int // 1 + the index of the first free slot; 0: none
}

type moreSlot struct {
	f    func() // nil when free
	next int    // while free: 1 + the index of the next free slot; 0: none
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
			x.more = new(moreFuncs)
		}
		m := x.more
		if m.free > 0 {
			j := m.free - 1
			m.free = m.slots[j].next
			m.slots[j] = moreSlot{f: f}
			i = len(x.funcs) + j
		} else {
			m.slots = append(m.slots, moreSlot{f: f})
			i = len(x.funcs) + len(m.slots) - 1
		}
	}
	x.mu.Unlock()
	return func() bool {
		x.mu.Lock()
		defer x.mu.Unlock()
		if i < len(x.funcs) {
			registered := x.funcs[i] != nil
			x.funcs[i] = nil
			return registered
		}
		if x.more == nil { // cancelled
			return false
		}
		j := i - len(x.funcs)
		slot := &x.more.slots[j]
		if slot.f == nil {
			return false
		}
		*slot = moreSlot{next: x.more.free}
		x.more.free = j + 1
		return true
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
		for _, s := range x.more.slots {
			if s.f != nil {
				run = append(run, s.f)
			}
		}
		x.more = nil
	}
	x.mu.Unlock()
	for _, f := range run {
		go f()
	}
}
