package websocket

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	gws "github.com/gorilla/websocket"

	"github.com/switchyard-http/switchyard/negotiate"
)

// pinger is the keep-alive goroutine of one connection: it pings every
// interval and closes the connection when the peer sends nothing within
// timeout of a ping (one ping is watched at a time). Any byte counts as an answer (a pong, or data that
// crossed the ping), so a handler may replace gorilla's pong handler.
type pinger struct {
	ws                *gws.Conn
	nc                *negotiate.Conn
	interval, timeout time.Duration

	stop     chan struct{}
	done     chan struct{}
	once     sync.Once
	timedOut atomic.Bool
}

func startPinger(ws *gws.Conn, nc *negotiate.Conn, interval, timeout time.Duration) *pinger {
	pg := &pinger{ws: ws, nc: nc, interval: interval, timeout: timeout,
		stop: make(chan struct{}), done: make(chan struct{})}
	go pg.run()
	return pg
}

func (pg *pinger) run() {
	defer close(pg.done)
	nextPing := time.Now().Add(pg.interval)
	var (
		pending bool      // a ping awaits an answer
		checkAt time.Time // when it must have had one
		before  int64     // bytes read when it was sent
	)
	t := time.NewTimer(pg.interval)
	defer t.Stop()
	for {
		select {
		case <-pg.stop:
			return
		case <-t.C:
		}
		now := time.Now()
		if pending && !now.Before(checkAt) {
			if pg.nc.Info().BytesIn == before {
				pg.expire()
				return
			}
			pending = false
		}
		if !now.Before(nextPing) {
			nextPing = now.Add(pg.interval)
			if !pending {
				pending, checkAt, before = true, now.Add(pg.timeout), pg.nc.Info().BytesIn
			}
			if err := pg.ws.WriteControl(gws.PingMessage, nil, now.Add(pg.timeout)); err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					pg.expire() // the peer does not even read
				}
				return // otherwise the WebSocket is closing: a close frame was sent, or the conn is gone
			}
		}
		wake := nextPing
		if pending && checkAt.Before(wake) {
			wake = checkAt
		}
		t.Reset(time.Until(wake))
	}
}

// expire closes the connection of a peer that stopped answering; the
// handler's read fails and it returns.
func (pg *pinger) expire() {
	pg.timedOut.Store(true)
	_ = pg.nc.Close()
}

// stopAndWait stops the pinger and waits for its goroutine, and reports
// whether it closed the connection. It may be called more than once.
func (pg *pinger) stopAndWait() bool {
	pg.once.Do(func() { close(pg.stop) })
	<-pg.done
	return pg.timedOut.Load()
}
