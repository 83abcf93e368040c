module github.com/ssedge/ssedge

go 1.26.0

require (
	github.com/cloudwego/netpoll v0.7.2
	github.com/golang-jwt/jwt/v5 v5.3.1
	go.uber.org/zap v1.28.0
	golang.org/x/sys v0.49.0
)

require (
	github.com/bytedance/gopkg v0.1.1 // indirect
	github.com/cloudwego/gopkg v0.1.4 // indirect
	go.uber.org/multierr v1.10.0 // indirect
)
