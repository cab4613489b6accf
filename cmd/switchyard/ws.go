package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/switchyard-http/switchyard/internal/wsframe"
)

// WebSocket opcodes (RFC 6455 §5.2).
const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xA
)

// maxMessage bounds a message the chat accepts.
const maxMessage = 64 << 20

// closeWait bounds the wait for the server's close frame after ours.
const closeWait = 5 * time.Second

// writeTimeout bounds each write to the server: the chat's frames, and
// with -h2 every write on the HTTP/2 connection (see wireTap.Write). A
// server that stops reading ends the session rather than stall it.
const writeTimeout = 10 * time.Second

// chat is the ws command.
func chat(ctx context.Context, o options, stdin io.Reader, stdout, stderr io.Writer) (code int) {
	e, code := switchTo(ctx, "ws", o, stderr)
	if e == nil {
		return code
	}
	defer e.close()
	ws := &wsConn{e: e}
	// Ctrl-C ends the session as the end of input does, with a close frame
	// (1000) and the wait for the server's; a second one ends the program
	// at once, Go's default. It is caught from before the line that says
	// the session is open.
	intr := make(chan os.Signal, 1)
	signal.Notify(intr, os.Interrupt)
	defer signal.Stop(intr)
	ended := make(chan struct{})
	defer close(ended)
	go chatInterrupt{ws, intr, ended}.run()
	if !o.verbose {
		shown := o.url
		if u, err := url.Parse(o.url); err == nil {
			shown = u.Redacted() // the password was sent, not shown
		}
		fmt.Fprintf(stderr, "connected to %s (%s)\n", shown, e.chosen())
	}
	defer func() {
		if err := ws.inputFailure(); err != nil {
			fmt.Fprintf(stderr, "switchyard ws: standard input: %v\n", err)
			code = exitError
		}
	}()
	go chatInput{ws}.run(stdin)

	r := e.afterSwitch(o.verbose, stderr)
	var msg []byte
	var msgOp byte
	fragmented := false // a message has begun and its last fragment is to come
	for {
		fin, op, payload, err := readFrame(r)
		if err != nil {
			if ws.closeSent() && errors.Is(err, io.EOF) {
				fmt.Fprintln(stderr, "closed: the server closed the connection without a close frame")
				return exitOK
			}
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				err = errors.New("the connection closed without a close frame (1006, abnormal closure)")
			}
			fmt.Fprintf(stderr, "switchyard ws: %v\n", err)
			return exitError
		}
		switch op {
		case opPing:
			_ = ws.write(opPong, payload)
		case opPong:
		case opClose:
			code, reason := closeInfo(payload)
			fmt.Fprintf(stderr, "closed by the server: %s\n", describeClose(code, reason))
			if !ws.closeSent() {
				_ = ws.sendClose(payload)
			}
			return exitOK
		case opText, opBinary, opContinuation:
			// The fragments of a message come one after the other (RFC
			// 6455 §5.4).
			switch {
			case op == opContinuation && !fragmented:
				fmt.Fprintln(stderr, "switchyard ws: a continuation frame with no message begun (RFC 6455 §5.4)")
				return exitError
			case op != opContinuation && fragmented:
				fmt.Fprintln(stderr, "switchyard ws: a new message began before the last fragment of the one before (RFC 6455 §5.4)")
				return exitError
			case op != opContinuation:
				msgOp, msg = op, msg[:0]
			}
			fragmented = !fin
			if len(msg)+len(payload) > maxMessage {
				fmt.Fprintln(stderr, "switchyard ws: message over 64 MiB")
				return exitError
			}
			msg = append(msg, payload...)
			if !fin {
				continue
			}
			if msgOp == opText {
				if !utf8.Valid(msg) {
					fmt.Fprintln(stderr, "switchyard ws: a text message is not UTF-8")
					return exitError
				}
				fmt.Fprintf(stdout, "%s\n", msg)
			} else {
				fmt.Fprintf(stdout, "<binary message, %d bytes>\n", len(msg))
			}
		default:
			fmt.Fprintf(stderr, "switchyard ws: unknown opcode %#x\n", op)
			return exitError
		}
		if ws.closeSent() {
			// Waiting for the server's close: bounded.
			_ = e.conn().SetReadDeadline(ws.closeDeadline())
		}
	}
}

// chatInput sends each line of standard input as a text frame, then a
// close frame; named so that stack dumps explain the goroutine.
type chatInput struct{ ws *wsConn }

func (c chatInput) run(stdin io.Reader) {
	sc := bufio.NewScanner(stdin)
	sc.Buffer(make([]byte, 64<<10), maxMessage)
	for sc.Scan() {
		if err := c.ws.write(opText, sc.Bytes()); err != nil {
			return
		}
	}
	if err := sc.Err(); err != nil {
		// Not the end of input (a read error, a line over 64 MiB): chat
		// reports it; the close frame ends the session all the same.
		c.ws.mu.Lock()
		c.ws.inputErr = err
		c.ws.mu.Unlock()
	}
	if err := c.ws.sendClose([]byte{0x03, 0xe8}); err == nil { // 1000: normal closure
		_ = c.ws.e.conn().SetReadDeadline(c.ws.closeDeadline())
	}
}

// chatInterrupt closes the session at the first interrupt; named so that
// stack dumps explain the goroutine.
type chatInterrupt struct {
	ws    *wsConn
	intr  chan os.Signal
	ended <-chan struct{}
}

func (c chatInterrupt) run() {
	select {
	case <-c.intr:
		signal.Stop(c.intr)
		if err := c.ws.sendClose([]byte{0x03, 0xe8}); err == nil { // 1000: normal closure
			_ = c.ws.e.conn().SetReadDeadline(c.ws.closeDeadline())
		}
	case <-c.ended:
	}
}

// wsConn writes client frames, masked (RFC 6455 §5.3), one at a time.
type wsConn struct {
	e        *exchange
	mu       sync.Mutex
	closed   time.Time // when our close frame went out
	inputErr error     // what ended standard input, if not its end
}

func (w *wsConn) inputFailure() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.inputErr
}

func (w *wsConn) write(op byte, payload []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.closed.IsZero() {
		return errors.New("close frame already sent")
	}
	return w.writeLocked(op, payload)
}

func (w *wsConn) sendClose(payload []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.closed.IsZero() {
		return nil
	}
	w.closed = time.Now()
	return w.writeLocked(opClose, payload)
}

func (w *wsConn) closeSent() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return !w.closed.IsZero()
}

func (w *wsConn) closeDeadline() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.closed.Add(closeWait)
}

func (w *wsConn) writeLocked(op byte, payload []byte) error {
	b := wsframe.AppendClient(nil, 0x80|op, payload)
	_ = w.e.conn().SetWriteDeadline(time.Now().Add(writeTimeout))
	_, err := w.e.conn().Write(b)
	return err
}

// readFrame reads one server frame, which must not be masked, nor set a
// reserved bit (no extension is negotiated), nor be a control frame over
// 125 bytes or in fragments.
func readFrame(r io.Reader) (fin bool, op byte, payload []byte, err error) {
	b0, payload, err := wsframe.ReadServer(r, maxMessage)
	if err != nil {
		return false, 0, nil, err
	}
	fin, op = b0&0x80 != 0, b0&0x0f
	if b0&0x70 != 0 {
		return false, 0, nil, errors.New("a frame with reserved bits set (an extension that was not negotiated)")
	}
	if op >= opClose && (len(payload) > 125 || !fin) {
		return false, 0, nil, errors.New("an invalid control frame")
	}
	return fin, op, payload, nil
}

func closeInfo(p []byte) (int, string) {
	if len(p) < 2 {
		return 1005, "" // no status code
	}
	return int(binary.BigEndian.Uint16(p)), string(p[2:])
}

var closeNames = map[int]string{
	1000: "normal closure", 1001: "going away", 1002: "protocol error", 1003: "unsupported data",
	1005: "no status code", 1007: "invalid payload", 1008: "policy violation", 1009: "message too big",
	1010: "extension required", 1011: "internal error", 1012: "service restart", 1013: "try again later",
}

func describeClose(code int, reason string) string {
	s := fmt.Sprintf("%d", code)
	if n, ok := closeNames[code]; ok {
		s += " (" + n + ")"
	}
	if reason != "" {
		s += fmt.Sprintf(" %q", reason)
	}
	return s
}
