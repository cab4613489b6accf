package benchmarks

import (
	"net/http"

	"github.com/switchyard-http/switchyard/negotiate"
	"github.com/switchyard-http/switchyard/websocket"
)

func init() {
	servers = append([]server{{"switchyard", switchyardHandler}}, servers...)
}

// switchyardHandler is the websocket protocol with its defaults behind a
// negotiator's endpoint, mounted as the README shows.
func switchyardHandler(after func(read func() error)) (http.Handler, func(), error) {
	p, err := websocket.New(nil, func(c *websocket.Conn) error {
		after(func() error { _, _, err := c.ReadMessage(); return err })
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return negotiated("websocket", p, (*negotiate.Negotiator).Endpoint)
}
