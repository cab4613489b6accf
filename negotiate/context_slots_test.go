package negotiate

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unsafe"
)

// These tests look at the slots a Conn's context keeps for its AfterFunc
// registrations, so they are in the package; testkit imports negotiate,
// so they do without it.

const slotsWait = 10 * time.Second // bounds every wait below

// slots returns how many registration slots x keeps, the inline ones
// included, in use or not.
func (x *connContext) slots() int {
	x.mu.Lock()
	defer x.mu.Unlock()
	n := len(x.funcs)
	if x.more != nil {
		n += cap(x.more.slots)
	}
	return n
}

// A long-lived connection's context keeps as many slots as it ever had
// live registrations at once, not one for every registration it has seen
// (audit: a protocol that bounds each message with
// context.WithTimeout(c.Context(), d) and cancels it kept a slot per
// message, 23,552 after 20,000 messages). Stopped slots are reused, and
// what is still registered runs at the cancellation.
func TestConnContextReusesSlots(t *testing.T) {
	x := &connContext{req: httptest.NewRequest("GET", "/", nil)}
	ran := make(chan string, 16)
	// Two long-lived watchers take the inline slots.
	context.AfterFunc(x, func() { ran <- "watch 1" })
	context.AfterFunc(x, func() { ran <- "watch 2" })
	// Then registrations come and go, up to four live at once: children
	// made by WithTimeout and WithCancel, and AfterFuncs, the stopped
	// ones never to run.
	const cycles, window = 5000, 4
	var live []func() bool
	for i := range cycles {
		switch i % 3 {
		case 0:
			_, cancel := context.WithTimeout(x, time.Hour)
			live = append(live, func() bool { cancel(); return true })
		case 1:
			_, cancel := context.WithCancel(x)
			live = append(live, func() bool { cancel(); return true })
		case 2:
			live = append(live, context.AfterFunc(x, func() { ran <- "stopped" }))
		}
		if len(live) == window {
			if !live[0]() {
				t.Fatalf("cycle %d: a stop returned false before the cancellation", i)
			}
			live = live[1:]
		}
	}
	// Room for the live registrations (2 + window) and slack a growing
	// slice may have: not thousands.
	if n := x.slots(); n > 2*(2+window) {
		t.Errorf("after %d registrations with at most %d live, the context keeps %d slots", cycles+2, 2+window, n)
	}
	for _, stop := range live {
		stop()
	}
	// Still registered at the end: one child and one more AfterFunc.
	child, cancelChild := context.WithCancel(x)
	defer cancelChild()
	context.AfterFunc(x, func() { ran <- "last" })
	x.cancel()
	got := map[string]int{}
	for range 3 {
		select {
		case s := <-ran:
			got[s]++
		case <-time.After(slotsWait):
			t.Fatalf("at the cancellation, ran only %v; want both watchers and the last AfterFunc", got)
		}
	}
	select {
	case <-child.Done():
	case <-time.After(slotsWait):
		t.Fatal("a child made after thousands of reused slots was not cancelled")
	}
	if got["watch 1"] != 1 || got["watch 2"] != 1 || got["last"] != 1 {
		t.Errorf("ran %v, want each watcher and the last AfterFunc once", got)
	}
	select {
	case s := <-ran:
		t.Errorf("%q ran too", s)
	default:
	}
}

// The same through a switched connection: a protocol with two shutdown
// watchers that bounds each message with a context.WithTimeout child of
// c.Context(). After thousands of messages the Conn keeps a few slots,
// and at the shutdown both watchers run (the first one ends the serve
// func's read).
func TestConnContextSlotsOnConn(t *testing.T) {
	n, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	slots := make(chan int, 1)
	watched := make(chan struct{})
	reg := new(Registry)
	reg.HandleFunc("line/1", func(c *Conn) error {
		context.AfterFunc(c.Context(), func() { _ = c.SetReadDeadline(time.Now()) })
		context.AfterFunc(c.Context(), func() { close(watched) })
		br := bufio.NewReader(c)
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return nil // the shutdown watcher ended the read
			}
			ctx, cancel := context.WithTimeout(c.Context(), time.Hour)
			if ctx.Err() != nil {
				cancel()
				return ctx.Err()
			}
			cancel()
			if line == "count\n" {
				slots <- c.ctx.slots()
			}
			if _, err := io.WriteString(c, "ok\n"); err != nil {
				return err
			}
		}
	})
	srv := httptest.NewServer(n.Endpoint(reg))
	defer srv.Close()
	nc, err := net.DialTimeout("tcp", srv.Listener.Addr().String(), slotsWait)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(slotsWait))
	fmt.Fprintf(nc, "GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: line/1\r\n\r\n")
	br := bufio.NewReader(nc)
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the switch: %v", err)
		}
		if strings.HasPrefix(l, "HTTP/") && !strings.Contains(l, " 101 ") {
			t.Fatalf("not switched: %q", l)
		}
		if l == "\r\n" {
			break
		}
	}
	const messages = 5000
	sent := make(chan error, 1)
	go func() {
		var err error
		for range messages {
			if _, err = io.WriteString(nc, "m\n"); err != nil {
				break
			}
		}
		if err == nil {
			_, err = io.WriteString(nc, "count\n")
		}
		sent <- err
	}()
	for i := range messages + 1 {
		if l, err := br.ReadString('\n'); err != nil || l != "ok\n" {
			t.Fatalf("reply %d: %q, %v", i, l, err)
		}
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	select {
	case k := <-slots:
		if k > 4 {
			t.Errorf("after %d messages, each with a WithTimeout child, the Conn's context keeps %d slots, want the two inline ones and a few", messages, k)
		}
	case <-time.After(slotsWait):
		t.Fatal("the protocol did not report its slots")
	}
	ctx, cancel := context.WithTimeout(context.Background(), slotsWait)
	defer cancel()
	shut := make(chan error, 1)
	go func() { shut <- n.Shutdown(ctx) }()
	select {
	case <-watched:
	case <-time.After(slotsWait):
		t.Fatal("the second watcher did not run at the shutdown")
	}
	// The first watcher ended the serve func: the server half-closes, and
	// the client closes when it sees the end.
	if rest, err := io.ReadAll(br); err != nil || len(rest) > 0 {
		t.Errorf("after the shutdown read %q, %v; want the end", rest, err)
	}
	nc.Close()
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v (the read watcher did not run?)", err)
	}
}

// A stop func belongs to its registration, not to its slot: called again
// after the slot has gone to another registration, it returns false and
// leaves that one registered, as context.AfterFunc's stop does (audit: the
// second call returned true and removed the other, which then never ran).
// In the inline slots and beyond them.
func TestConnContextStaleStop(t *testing.T) {
	for _, taken := range []int{0, 2} {
		t.Run(fmt.Sprintf("%d slots taken", taken), func(t *testing.T) {
			x := &connContext{req: httptest.NewRequest("GET", "/", nil)}
			ran := make(chan string, 8)
			for range taken {
				x.AfterFunc(func() { ran <- "watch" })
			}
			stopA := x.AfterFunc(func() { ran <- "a" })
			if !stopA() {
				t.Fatal("the first stop of a returned false")
			}
			stopB := x.AfterFunc(func() { ran <- "b" }) // in a's slot
			if stopA() {
				t.Error("a's second stop returned true: it removed b, registered in the slot since")
			}
			stopC := x.AfterFunc(func() { ran <- "c" })
			if !stopC() || stopC() {
				t.Error("c's stops: want true, then false")
			}
			x.cancel()
			got := map[string]int{}
			for range taken + 1 {
				select {
				case s := <-ran:
					got[s]++
				case <-time.After(slotsWait):
					t.Fatalf("at the cancellation, ran only %v; want b and the watchers", got)
				}
			}
			if got["b"] != 1 || got["watch"] != taken {
				t.Errorf("ran %v, want b and %d watchers", got, taken)
			}
			if stopB() {
				t.Error("b's stop returned true after b ran")
			}
			select {
			case s := <-ran:
				t.Errorf("%q ran too", s)
			default:
			}
		})
	}
}

// What the slots cost: a registration allocates only its stop func, in the
// inline slots and in a reused one beyond them, and the context is no
// larger than the seven words it had before its slots were reused and
// their stops tied to their registrations (every byte of it is in every
// Conn).
func TestConnContextCost(t *testing.T) {
	x := &connContext{req: httptest.NewRequest("GET", "/", nil)}
	f := func() {}
	if a := testing.AllocsPerRun(100, func() { x.AfterFunc(f)() }); a > 1 {
		t.Errorf("an inline registration and its stop allocate %v times, want 1 (the stop func)", a)
	}
	x.AfterFunc(f)
	x.AfterFunc(f)
	if a := testing.AllocsPerRun(100, func() { x.AfterFunc(f)() }); a > 1 {
		t.Errorf("a registration in a reused slot and its stop allocate %v times, want 1 (the stop func)", a)
	}
	if size := unsafe.Sizeof(connContext{}); size > 56 {
		t.Errorf("connContext is %d bytes, want at most 56", size)
	}
}
