package wstest

import (
	"bytes"
	"compress/flate"
)

// Deflate is p as the payload of one permessage-deflate message (RFC 7692
// §7.2.1: deflated, sync-flushed, without the flush's final 00 00 ff ff),
// for a test that writes raw frames: a bomb, a message split across
// fragments, invalid UTF-8 only the inflater reveals.
func Deflate(p []byte) []byte {
	var b bytes.Buffer
	// NewWriter fails only for a bad level, and a bytes.Buffer never fails.
	w, _ := flate.NewWriter(&b, flate.BestCompression)
	_, _ = w.Write(p)
	_ = w.Flush()
	return bytes.TrimSuffix(b.Bytes(), []byte{0, 0, 0xff, 0xff})
}
