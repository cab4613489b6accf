module github.com/switchyard-http/switchyard/benchmarks

go 1.26.0

replace github.com/switchyard-http/switchyard => ../

require (
	github.com/coder/websocket v1.8.15
	github.com/gobwas/ws v1.5.0
	github.com/gorilla/websocket v1.5.3
	github.com/switchyard-http/switchyard v0.0.0-00010101000000-000000000000
	golang.org/x/net v0.62.0
)

require (
	github.com/gobwas/httphead v0.1.0 // indirect
	golang.org/x/text v0.43.0 // indirect
)
