//go:build !unix

package websocket

import "syscall"

const rawReads = false

func readFD(uintptr, []byte) (int, error) { return 0, syscall.EINVAL }
