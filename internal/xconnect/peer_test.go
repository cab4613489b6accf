package xconnect_test

import (
	"bufio"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/switchyard-http/switchyard/internal/testkit"
)

// h2Peer is the one connection of a fake h2c server (prior knowledge)
// that advertises extended CONNECT.
type h2Peer struct {
	c   net.Conn
	fr  *http2.Framer
	wmu sync.Mutex // the framer's writes
	wg  *sync.WaitGroup
}

// write runs f, which writes to the connection, under the write lock.
func (p *h2Peer) write(f func() error) error {
	p.wmu.Lock()
	defer p.wmu.Unlock()
	return f()
}

// spawn runs f on a goroutine the test's cleanup waits for: writes that
// must not stop the peer from reading what the client sends.
func (p *h2Peer) spawn(f func()) {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		f()
	}()
}

// fakeH2Server accepts one connection on loopback, reads the client's
// preface, sends SETTINGS with ENABLE_CONNECT_PROTOCOL, acknowledges the
// client's SETTINGS, and hands every other frame to handle until the
// connection ends, or handle returns false; closed is closed then. The
// test's cleanup closes the connection and waits for the goroutines.
func fakeH2Server(t *testing.T, handle func(p *h2Peer, f http2.Frame) bool) (url string, closed <-chan struct{}) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conn net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		if conn != nil {
			conn.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(done)
		c, err := ln.Accept()
		ln.Close()
		if err != nil {
			return
		}
		mu.Lock()
		conn = c
		mu.Unlock()
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(testkit.Timeout))
		br := bufio.NewReader(c)
		if _, err := io.ReadFull(br, make([]byte, len(http2.ClientPreface))); err != nil {
			return
		}
		p := &h2Peer{c: c, fr: http2.NewFramer(c, br), wg: &wg}
		_ = p.write(func() error {
			return p.fr.WriteSettings(http2.Setting{ID: http2.SettingEnableConnectProtocol, Val: 1})
		})
		for {
			f, err := p.fr.ReadFrame()
			if err != nil {
				return
			}
			if s, ok := f.(*http2.SettingsFrame); ok && !s.IsAck() {
				_ = p.write(p.fr.WriteSettingsAck)
				continue
			}
			if !handle(p, f) {
				return
			}
		}
	}()
	return "http://" + ln.Addr().String(), done
}
