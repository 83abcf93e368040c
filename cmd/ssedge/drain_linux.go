package main

// The drain with --procs. The supervisor, on SIGTERM or SIGINT, closes the
// publish socket, lets go of its copies of the listening sockets (each
// worker closes its own at the start of its drain, so the sockets close
// as soon as every worker has accepted what was queued), and ends the
// relay streams after the last event. The end of its relay stream is a
// worker's signal to drain: by then it has every event published, so
// Server.Drain delivers all of them before the streams close. A second
// SIGTERM or SIGINT to the supervisor is passed to every worker as
// drainNowSignal, which closes its connections at once. The supervisor
// restarts no worker once stopping, and exits when every worker has.

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"go.uber.org/zap"

	"github.com/ssedge/ssedge/poller"
	"github.com/ssedge/ssedge/pubsub"
)

// drainNowSignal, from the supervisor, tells a draining worker to close
// every connection at once. Workers ignore SIGINT and SIGTERM (a terminal's
// Ctrl-C and systemd's KillMode=control-group reach every process; the
// supervisor decides), so the second signal needs one of its own. Not
// SIGUSR2, which nginx (and ssedge's binary upgrade) give to the master
// process: `systemctl kill -s USR2` reaches every process of the unit.
const drainNowSignal = syscall.SIGQUIT

// watchSecondSignal passes a second SIGINT or SIGTERM on to every worker
// as drainNowSignal, from now until stop is called. The supervisor calls
// it as soon as it starts stopping, so a second signal that comes while
// the publish socket closes is not lost.
func (s *supervisor) watchSecondSignal() (stop func()) {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case got := <-sig:
			s.log.Warn("second signal during the drain: workers close every connection now", zap.Stringer("signal", got))
			s.mu.Lock()
			for _, p := range s.procs {
				p.Signal(drainNowSignal)
			}
			s.mu.Unlock()
		case <-done:
		}
	}()
	return func() { signal.Stop(sig); close(done) }
}

// drainWorkers is the supervisor's side of a stop: listeners let go, the
// relay ended (s.stop).
func (s *supervisor) drainWorkers(stopRelay context.CancelFunc, relayDone <-chan struct{}) {
	s.bound.Close()
	s.stop(stopRelay, relayDone)
}

// workerDrainNow is the context a worker's drain runs under: it ends on
// drainNowSignal from the supervisor, or after the window and its grace.
// Call it early, so a signal that comes before the drain starts is kept.
func workerDrainNow(log *zap.Logger) (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, drainNowSignal)
	go func() {
		select {
		case <-sig:
			log.Warn("the supervisor asks to close every connection now")
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, func() { signal.Stop(sig); cancel() }
}

// drainWorker stops a worker whose relay stream has ended: with a drain
// when the stream ended cleanly (the supervisor is stopping; everything
// published has arrived), at once when it broke.
func drainWorker(ctx context.Context, o *serveOptions, hub *pubsub.Hub, srv *poller.Server, streamErr error) {
	if streamErr == nil && o.drainWindow > 0 {
		dctx, cancel := context.WithTimeout(ctx, o.drainWindow+drainGrace)
		srv.Drain(dctx, o.drainWindow)
		cancel()
	}
	hub.Close()
	srv.Close()
}
