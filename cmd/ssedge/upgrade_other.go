//go:build !linux

package main

import (
	"context"
	"os"
	"time"

	"go.uber.org/zap"

	"github.com/ssedge/ssedge/internal/admin"
	"github.com/ssedge/ssedge/poller"
	"github.com/ssedge/ssedge/pubsub"
	"github.com/ssedge/ssedge/pubsub/ingest"
)

// upgrader does nothing here: ssedge serves only on Linux.
type upgrader struct {
	o     *serveOptions
	log   *zap.Logger
	hub   *pubsub.Hub
	srv   *poller.Server
	in    *ingest.Server
	gate  *publishGate
	admin *admin.Server
}

func (u *upgrader) run(ctx context.Context, sig <-chan os.Signal, done chan<- struct{}) {}

func (u *upgrader) stopping() bool { return false }

func notifyUSR2() chan os.Signal { return nil }

func refuseUpgrades(ctx context.Context, log *zap.Logger, why string) {}

func refuseUpgradesOn(ctx context.Context, log *zap.Logger, sig <-chan os.Signal, why string) {}

func sdNotifyBarrier(timeout time.Duration) error { return nil }
