//go:build !linux

package main

import (
	"context"
	"errors"
	"os"

	"go.uber.org/zap"
)

var errProcsNeedsLinux = errors.New("serve --procs needs Linux")

func supervise(ctx context.Context, o *serveOptions, log *zap.Logger, up *upgradeChild, usr2 <-chan os.Signal) error {
	return errProcsNeedsLinux
}

func serveWorker(o *serveOptions, index string) error { return errProcsNeedsLinux }
