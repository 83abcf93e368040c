// Command ssedge is the SSE edge server: `ssedge serve` holds the
// subscribers and the publish socket, `ssedge publish` sends one event,
// `ssedge version` prints the build.
package main

import (
	"errors"
	"fmt"
	"os"
	"runtime/debug"
)

// version is set with -ldflags "-X main.version=..."; otherwise the module
// build info is used.
var version = ""

const usage = `ssedge — a Server-Sent Events edge server

Usage:
  ssedge serve   [flags]                 run the server (ssedge serve --help)
  ssedge publish [flags] DATA            publish one event, print its id (ssedge publish --help)
  ssedge tune    check|plan|apply|revert  size the kernel for N connections (ssedge tune --help)
  ssedge token   [flags]                 mint a private-channel token (ssedge token --help)
  ssedge config  check PATH              check a --config file, print the effective configuration
  ssedge version                         print the version

Subscribe:  curl -N 'http://127.0.0.1:8080/events?channel=news'
Publish:    curl --unix-socket SOCKET -d 'hello' 'http://x/publish?channel=news'
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	var err error
	switch cmd, args := os.Args[1], os.Args[2:]; cmd {
	case "serve":
		err = serve(args)
	case "publish":
		err = publish(args)
	case "tune":
		err = tune(args)
	case "token":
		err = token(args)
	case "config":
		err = configCommand(args)
	case "version", "--version", "-version":
		fmt.Println("ssedge", buildVersion())
	case "help", "--help", "-help", "-h":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "ssedge: unknown command %q\n\n%s", cmd, usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "ssedge:", err)
		if errors.As(err, new(usageError)) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		v := bi.Main.Version
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += " " + s.Value[:12]
			}
		}
		return v
	}
	return "(unknown)"
}
