package websocket_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"

	gws "github.com/gorilla/websocket"

	"github.com/switchyard-http/switchyard/negotiate"
	"github.com/switchyard-http/switchyard/websocket"
)

// An origin policy beyond host patterns: pages served over https from any
// subdomain of example.com, and development servers on localhost at any
// port. The same origin passes without it; every other browser is
// refused with 403.
func ExampleOptions_checkOrigin() {
	allow := func(r *http.Request) bool {
		u, err := url.Parse(r.Header.Get("Origin"))
		if err != nil || u.User != nil || u.Path != "" {
			return false
		}
		switch u.Scheme {
		case "https":
			return strings.HasSuffix(u.Hostname(), ".example.com")
		case "http":
			return u.Hostname() == "localhost"
		}
		return false
	}
	p, err := websocket.New(&websocket.Options{CheckOrigin: allow}, func(c *websocket.Conn) error {
		return c.WriteMessage(gws.TextMessage, []byte("welcome"))
	})
	if err != nil {
		log.Fatal(err)
	}
	n, _ := negotiate.New(nil) // nil options cannot fail
	reg := new(negotiate.Registry)
	reg.Register("websocket", p)
	srv := httptest.NewServer(n.Endpoint(reg))
	defer srv.Close()
	defer n.Shutdown(context.Background())

	for _, origin := range []string{"https://app.example.com", "http://localhost:5173", "http://app.example.com", "https://example.com.evil.net"} {
		c, resp, err := gws.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), http.Header{"Origin": {origin}})
		if err != nil {
			fmt.Println(origin, resp.StatusCode)
			continue
		}
		_, msg, _ := c.ReadMessage()
		c.Close()
		fmt.Println(origin, resp.StatusCode, string(msg))
	}
	// Output:
	// https://app.example.com 101 welcome
	// http://localhost:5173 101 welcome
	// http://app.example.com 403
	// https://example.com.evil.net 403
}
