module github.com/switchyard-http/switchyard/examples/echo5

go 1.26.0

require (
	github.com/labstack/echo/v5 v5.4.4
	github.com/switchyard-http/switchyard v0.0.0
	github.com/switchyard-http/switchyard/echoadapter/v5 v5.0.0
)

require (
	github.com/gorilla/websocket v1.5.3 // indirect
	golang.org/x/net v0.62.0 // indirect
	golang.org/x/text v0.43.0 // indirect
	golang.org/x/time v0.15.0 // indirect
)

replace (
	github.com/switchyard-http/switchyard => ../..
	github.com/switchyard-http/switchyard/echoadapter/v5 => ../../echoadapter/v5
)
