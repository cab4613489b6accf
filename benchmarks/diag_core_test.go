//go:build diag

package benchmarks

import (
	"net/http"

	gws "github.com/gorilla/websocket"
	"github.com/switchyard-http/switchyard/negotiate"
)

// With -tags diag, "core+gorilla" is gorilla's Upgrader used directly as a
// negotiate Handshake engine, without the websocket package: the
// difference from gorilla is the negotiator's own cost, the difference from
// switchyard the websocket package's.
func init() {
	servers = append([]server{{"core+gorilla", standinHandler}}, servers...)
}

func standinHandler(after func(read func() error)) (http.Handler, func(), error) {
	n, err := negotiate.New(nil)
	if err != nil {
		return nil, nil, err
	}
	up := &gws.Upgrader{}
	var reg negotiate.Registry
	err = reg.Register("websocket", negotiate.Protocol{Handshake: func(w http.ResponseWriter, r *http.Request) error {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return nil
		}
		defer c.Close()
		after(func() error { _, _, err := c.ReadMessage(); return err })
		return nil
	}})
	if err != nil {
		return nil, nil, err
	}
	return n.Endpoint(&reg), nil, nil
}
