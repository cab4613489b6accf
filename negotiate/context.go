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

	mu    sync.Mutex
	done  chan struct{} // made by Done
	gens  [2]uint32     // of funcs, see slot
	funcs [2]func()     // registered by AfterFunc, nil when stopped
	more  *moreFuncs    // beyond funcs, rarely; &cancelled once cancelled
}

// cancelled is where the more of a cancelled connContext points: the
// context keeps no flag of its own, so that the generations of its inline
// slots fit where the flag and its padding were (a Conn is 240 bytes, the
// top of its size class).
var cancelled moreFuncs

// moreFuncs holds the registrations beyond a connContext's inline slots.
// Stopped slots are reused, so that a connection that registers and stops
// (a context.WithTimeout child per message) keeps as many slots as it ever
// had registrations at once, not one per registration.
type moreFuncs struct {
	slots []moreSlot
	free  uint32 // 1 + the index of the first free slot; 0: none
}

type moreSlot struct {
	f    func() // nil when free
	gen  uint32 // see slot
	next uint32 // while free: 1 + the index of the next free slot; 0: none
}

// slot returns the func and the generation of slot i: funcs, then more.
// A slot's generation counts the times it was emptied, so that a stop
// func, which holds its registration's slot and generation, finds its
// registration gone once the slot has been emptied, even if another
// registration took the slot since.
func (x *connContext) slot(i uint32) (*func(), *uint32) {
	if i < uint32(len(x.funcs)) {
		return &x.funcs[i], &x.gens[i]
	}
	s := &x.more.slots[i-uint32(len(x.funcs))]
	return &s.f, &s.gen
}

func (x *connContext) canceled() bool { return x.more == &cancelled }

var _ context.Context = (*connContext)(nil)

func (x *connContext) Deadline() (time.Time, bool) { return time.Time{}, false }

func (x *connContext) Done() <-chan struct{} {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.done == nil {
		x.done = make(chan struct{})
		if x.canceled() {
			close(x.done)
		}
	}
	return x.done
}

func (x *connContext) Err() error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.canceled() {
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
// reports whether it kept f from running, and a second call returns false.
// The first two registrations take the inline slots; a stopped slot is
// taken again.
func (x *connContext) AfterFunc(f func()) (stop func() bool) {
	x.mu.Lock()
	if x.canceled() {
		x.mu.Unlock()
		go f()
		return func() bool { return false }
	}
	var i uint32
	for i < uint32(len(x.funcs)) && x.funcs[i] != nil {
		i++
	}
	if i == uint32(len(x.funcs)) {
		if x.more == nil {
			x.more = new(moreFuncs)
		}
		m := x.more
		if m.free > 0 {
			j := m.free - 1
			m.free, m.slots[j].next = m.slots[j].next, 0
			i += j
		} else {
			m.slots = append(m.slots, moreSlot{})
			i += uint32(len(m.slots) - 1)
		}
	}
	fp, gp := x.slot(i)
	*fp = f
	gen := *gp
	x.mu.Unlock()
	return func() bool {
		x.mu.Lock()
		defer x.mu.Unlock()
		if x.canceled() {
			return false
		}
		fp, gp := x.slot(i)
		if *gp != gen {
			return false // stopped before
		}
		*fp = nil
		*gp++
		if i >= uint32(len(x.funcs)) {
			j := i - uint32(len(x.funcs))
			x.more.slots[j].next = x.more.free
			x.more.free = j + 1
		}
		return true
	}
}

// cancel ends the context, once, and starts the funcs registered with
// AfterFunc.
func (x *connContext) cancel() {
	x.mu.Lock()
	if x.canceled() {
		x.mu.Unlock()
		return
	}
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
	}
	x.more = &cancelled // and the slots beyond funcs go
	x.mu.Unlock()
	for _, f := range run {
		go f()
	}
}
