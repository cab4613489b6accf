package negotiate

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"
	"time"
)

// The Conn's context behaves as the context package's own: AfterFunc runs
// once at the cancellation (at once after it) unless stopped, children
// made with WithCancel end with it, and values are the request's.
func TestConnContext(t *testing.T) {
	type key struct{}
	r := httptest.NewRequest("GET", "/", nil)
	r = r.WithContext(context.WithValue(r.Context(), key{}, "v"))
	x := &connContext{req: r}
	var ctx context.Context = x

	ran := make(chan int, 8)
	context.AfterFunc(ctx, func() { ran <- 1 })
	stop2 := context.AfterFunc(ctx, func() { ran <- 2 })
	context.AfterFunc(ctx, func() { ran <- 3 }) // beyond the inline slots
	child, cancelChild := context.WithCancel(ctx)
	defer cancelChild()
	if !stop2() || stop2() {
		t.Error("stop: want true once, then false")
	}
	if ctx.Err() != nil || child.Err() != nil {
		t.Fatal("done before the cancellation")
	}
	if got := ctx.Value(key{}); got != "v" {
		t.Errorf("Value = %v, want the request's", got)
	}
	x.cancel()
	x.cancel() // once
	got := map[int]bool{}
	for range 2 {
		select {
		case i := <-ran:
			got[i] = true
		case <-time.After(10 * time.Second):
			t.Fatal("AfterFunc did not run")
		}
	}
	if !got[1] || !got[3] {
		t.Errorf("ran %v, want 1 and 3 (2 was stopped)", got)
	}
	select {
	case <-child.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("child not cancelled")
	}
	if !errors.Is(ctx.Err(), context.Canceled) || !errors.Is(context.Cause(ctx), context.Canceled) {
		t.Errorf("Err = %v, Cause = %v", ctx.Err(), context.Cause(ctx))
	}
	<-ctx.Done()
	context.AfterFunc(ctx, func() { ran <- 4 }) // after the cancellation: at once
	select {
	case i := <-ran:
		if i != 4 {
			t.Errorf("ran %d", i)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("AfterFunc after the cancellation did not run")
	}
}
