package main

// SIGTERM and SIGINT drain the server gracefully over --drain-window (see
// poller.Server.Drain and docs/operations.md): the publish socket closes
// first, so publishers get a refusal rather than a silent drop, the
// listeners close, every event already published is delivered, and the
// streams close at a steady pace across the window, each after a final
// retry: frame with a random delay, so that clients reconnect spread out.
// A second SIGTERM or SIGINT closes everything at once.

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/ssedge/ssedge/poller"
	"github.com/ssedge/ssedge/pubsub"
	"github.com/ssedge/ssedge/pubsub/ingest"
)

const (
	defaultDrainWindow = 10 * time.Second
	// drainGrace is how long past the window the process waits for the
	// last closes before it closes what is left; poller's loops give the
	// last answers one second of it.
	drainGrace = 3 * time.Second
	// publishCloseTimeout bounds how long the publish socket waits for
	// publishers in the middle of a request when it closes.
	publishCloseTimeout = 5 * time.Second
)

func drainFlag(fs *flag.FlagSet, o *serveOptions) {
	fs.DurationVar(&o.drainWindow, "drain-window", defaultDrainWindow, "on SIGTERM or SIGINT, close the streams spread evenly over this long, each with a random retry: so that clients reconnect spread out; 0: close every connection at once. A second signal closes at once")
}

func checkDrainWindow(o *serveOptions) error {
	if o.drainWindow < 0 {
		return fmt.Errorf("--drain-window %v: expected 0 (close at once) or a positive duration such as 10s", o.drainWindow)
	}
	return nil
}

// untilSecondSignal returns a context that ends at the next SIGINT or
// SIGTERM, or after d; stop releases it.
func untilSecondSignal(log *zap.Logger, d time.Duration) (ctx context.Context, stop func()) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		select {
		case s := <-sig:
			log.Warn("second signal during the drain: closing every connection now", zap.Stringer("signal", s))
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, func() { signal.Stop(sig); cancel() }
}

// shutdown stops a single-process server: the publish socket, then a
// drain over --drain-window (none with 0), then whatever is left.
func shutdown(o *serveOptions, log *zap.Logger, in *ingest.Server, hub *pubsub.Hub, srv *poller.Server) {
	log.Info("stopping", zap.Duration("drain_window", o.drainWindow))
	// Watch for a second signal from now, not from the drain's start, so
	// one that comes while the publish socket closes is not lost.
	dctx, stop := untilSecondSignal(log, publishCloseTimeout+o.drainWindow+drainGrace)
	defer stop()
	ctx, cancel := context.WithTimeout(dctx, publishCloseTimeout)
	in.Close(ctx)
	cancel()
	if o.drainWindow > 0 { // 0: Close closes every connection at once
		srv.Drain(dctx, o.drainWindow)
	}
	hub.Close()
	srv.Close()
}
