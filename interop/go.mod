module github.com/switchyard-http/switchyard/interop

go 1.26.0

replace github.com/switchyard-http/switchyard => ../

require (
	github.com/go-json-experiment/json v0.0.0-20260213210345-44df1a37e875 // indirect
	golang.org/x/text v0.43.0 // indirect
)

require (
	github.com/chromedp/cdproto v0.159.0
	github.com/chromedp/chromedp v0.23.0
	github.com/coder/websocket v1.8.15
	github.com/go-chi/chi/v5 v5.5.0
	github.com/gorilla/mux v1.8.1
	github.com/gorilla/websocket v1.5.3
	github.com/klauspost/compress v1.20.1
	github.com/rs/cors v1.11.1
	github.com/switchyard-http/switchyard v0.0.0-00010101000000-000000000000
	golang.org/x/net v0.62.0
)
