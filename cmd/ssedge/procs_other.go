//go:build !linux

package main

import (
	"context"
	"errors"

	"go.uber.org/zap"
)

var errProcsNeedsLinux = errors.New("serve --procs needs Linux")

func supervise(ctx context.Context, o *serveOptions, log *zap.Logger) error {
	return errProcsNeedsLinux
}

func serveWorker(o *serveOptions, index string) error { return errProcsNeedsLinux }
