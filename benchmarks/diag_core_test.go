//go:build diag

package benchmarks

import (
	"crypto/sha1"
	"encoding/base64"
	"net/http"

	"github.com/gobwas/ws/wsutil"

	"github.com/switchyard-http/switchyard/negotiate"
)

// With -tags diag, "core+gobwas" is a bare negotiate protocol that answers
// the WebSocket key in Accept (the negotiator writes the 101) and reads
// frames with gobwas/ws's wsutil, without the websocket package: its
// difference from gobwas is the negotiator's own cost, its difference from
// switchyard the websocket package's and gorilla's.
func init() {
	servers = append([]server{{"core+gobwas", coreHandler}}, servers...)
}

func coreHandler(after func(read func() error)) (http.Handler, func(), error) {
	return negotiated("websocket", negotiate.Protocol{Accept: func(s *negotiate.Switch) (func(*negotiate.Conn) error, error) {
		sum := sha1.Sum([]byte(s.Request.Header.Get("Sec-WebSocket-Key") + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
		s.Header["Sec-WebSocket-Accept"] = []string{base64.StdEncoding.EncodeToString(sum[:])}
		return func(c *negotiate.Conn) error {
			after(func() error { _, _, err := wsutil.ReadClientData(c); return err })
			return nil
		}, nil
	}}, (*negotiate.Negotiator).Endpoint)
}
