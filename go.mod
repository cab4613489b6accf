module github.com/switchyard-http/switchyard

go 1.26
