package main

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"
)

// A reconnect storm (--storm) is the situation after a proxy failover or
// a crashed neighbour box: every client loses its stream at the same
// moment and reconnects with the Last-Event-ID it last received, while
// the publisher goes on. The run connects --conns streams as usual, then
// publishes --events events --interval apart without pause; once every
// stream of a worker has --storm-after of them, that worker closes all its
// streams at once and reconnects each (--storm-concurrency in flight)
// carrying its own last id. Each stream keeps its account across the
// reconnect, so the usual checks hold per client over the whole run:
// every event exactly once, in order, with the published id — what it
// missed from the server's history, then live. ssedge.gap events are
// counted by reason apart from the events: "evicted" means the history
// was too short for the outage (raise --history-per-channel), any other
// reason is a failed resume. While the storm lasts, the parent reads the
// server side every --storm-sample (storm_sample_linux.go).

// stormWorker is what a worker tells the parent about its storm.
type stormWorker struct {
	Dropped      int            `json:"dropped"`
	DropNs       int64          `json:"drop_ns"`
	Resumed      int            `json:"resumed"`
	Failed       int            `json:"failed"`
	LastResumeNs int64          `json:"last_resume_ns"`
	Errors       map[string]int `json:"errors,omitempty"` // why resumes failed
}

// stormResult is the storm's part of the result.
type stormResult struct {
	After       int `json:"after"`       // events every stream had before the drop
	Concurrency int `json:"concurrency"` // reconnects in flight per worker (0: --concurrency)

	Dropped         int            `json:"dropped"`
	Resumed         int            `json:"resumed"`
	ResumeFailed    int            `json:"resume_failed"`
	DropSpreadMs    float64        `json:"drop_spread_ms"`   // first worker's drop to the last's
	ResumeSeconds   float64        `json:"resume_seconds"`   // first drop to the last stream head back
	CompleteSeconds float64        `json:"complete_seconds"` // first drop to every stream having every event
	LastPublishS    float64        `json:"last_publish_s"`   // first drop to the last event's publish: completion cannot come before it
	ResumeRate      float64        `json:"resume_rate_per_s"`
	ResumeErrors    map[string]int `json:"resume_errors,omitempty"`

	Gaps map[string]int `json:"gaps,omitempty"` // ssedge.gap events, by reason

	Server serverStorm `json:"server"`

	Problems []string `json:"problems,omitempty"`

	firstDropNs int64
}

func (c *config) checkStorm() error {
	if !c.storm {
		return nil
	}
	if c.stormAfter == 0 {
		c.stormAfter = max(1, c.events/4)
	}
	switch {
	case c.events < 2:
		return errors.New("ssedge-load: --storm needs --events 2 or more: some before the drop, some after")
	case c.stormAfter < 1 || c.stormAfter >= c.events:
		return fmt.Errorf("ssedge-load: --storm-after %d: want 1 to %d (below --events)", c.stormAfter, c.events-1)
	case c.stormConc < 0:
		return fmt.Errorf("ssedge-load: --storm-concurrency %d: want 0 or more", c.stormConc)
	case c.stormSample <= 0:
		return fmt.Errorf("ssedge-load: --storm-sample %s: want more than 0", c.stormSample)
	}
	return nil
}

// runStorm publishes every event while the workers drop and resume, and
// returns once each worker has resumed and the publisher is done; the
// caller then drains as for any run.
func runStorm(cfg *config, pub *publisher, ws *workerSet, log io.Writer) ([]published, *stormResult, error) {
	st := &stormResult{After: cfg.stormAfter, Concurrency: cfg.stormConc}
	smp := newServerSampler(cfg, cfg.stormSample)
	smp.sample(true)
	if err := ws.broadcast(command{Cmd: "drop", After: cfg.stormAfter}); err != nil {
		return nil, nil, err
	}
	type pubDone struct {
		sends []published
		err   error
	}
	done := make(chan pubDone, 1)
	quiet := *cfg
	quiet.quiet = true // the storm's progress line takes the terminal
	go func() {
		sends, err := publishAll(&quiet, pub, io.Discard)
		done <- pubDone{sends, err}
	}()

	start := time.Now()
	var pd *pubDone
	tick := func() {
		smp.sample(false)
		if pd == nil {
			select {
			case d := <-done:
				pd = &d
			default:
			}
		}
		if cfg.quiet {
			return
		}
		var dropped, resumed, failed int
		for _, p := range ws.procs {
			if p.dropped != nil {
				dropped += p.dropped.Dropped
			}
			if p.resumed != nil {
				resumed, failed = resumed+p.resumed.Resumed, failed+p.resumed.Failed
			}
		}
		fmt.Fprintf(log, "\rstorm %.0fs: %d dropped, %d workers of %d resumed (%d streams, %d failed); accept queue peak %d   ",
			time.Since(start).Seconds(), dropped, countProcs(ws, func(p *workerProc) bool { return p.resumed != nil }), len(ws.procs),
			resumed, failed, smp.res.PeakAcceptQueue)
	}
	deadline := start.Add(time.Duration(cfg.events)*cfg.interval + 2*cfg.connectTimeout + time.Duration(cfg.conns)*time.Millisecond + time.Minute)
	ok, err := ws.until(deadline, func() bool {
		return (pd != nil && pd.err != nil) || ws.all(func(p *workerProc) bool { return p.resumed != nil })
	}, tick)
	if err != nil {
		return nil, nil, err
	}
	if pd != nil && pd.err != nil {
		return nil, nil, pd.err
	}
	if !ok {
		return nil, nil, fmt.Errorf("ssedge-load: storm: workers still resuming after %s", time.Since(start).Round(time.Second))
	}
	if pd == nil {
		// Sample on while the publisher finishes: history replay and live
		// delivery still run on the server.
		d := waitSampling(done, smp)
		pd = &d
	}
	if pd.err != nil {
		return nil, nil, pd.err
	}
	ok, err = ws.until(time.Now().Add(cfg.drain), func() bool { return ws.all(func(p *workerProc) bool { return p.complete }) }, tick)
	if err != nil {
		return nil, nil, err
	}
	completeAt := time.Now()
	smp.sample(true)
	if !cfg.quiet {
		fmt.Fprintln(log)
	}
	st.fill(ws, smp, ok, completeAt)
	if n := len(pd.sends); n > 0 && st.firstDropNs > 0 {
		st.LastPublishS = float64(pd.sends[n-1].SentNs-st.firstDropNs) / 1e9
	}
	return pd.sends, st, nil
}

// waitSampling waits for the publisher's end, sampling the server meanwhile.
func waitSampling[T any](done <-chan T, smp *serverSampler) T {
	t := time.NewTicker(smp.every)
	defer t.Stop()
	for {
		select {
		case d := <-done:
			return d
		case <-t.C:
			smp.sample(false)
		}
	}
}

func countProcs(ws *workerSet, f func(*workerProc) bool) int {
	n := 0
	for _, p := range ws.procs {
		if f(p) {
			n++
		}
	}
	return n
}

// fill takes the workers' drop and resume messages and the samples.
func (st *stormResult) fill(ws *workerSet, smp *serverSampler, complete bool, completeAt time.Time) {
	var firstDrop, lastDrop, lastResume int64
	for _, p := range ws.procs {
		if d := p.dropped; d != nil {
			st.Dropped += d.Dropped
			if firstDrop == 0 || d.DropNs < firstDrop {
				firstDrop = d.DropNs
			}
			lastDrop = max(lastDrop, d.DropNs)
		}
		if r := p.resumed; r != nil {
			st.Resumed += r.Resumed
			st.ResumeFailed += r.Failed
			for k, n := range r.Errors {
				if st.ResumeErrors == nil {
					st.ResumeErrors = map[string]int{}
				}
				st.ResumeErrors[k] += n
			}
			lastResume = max(lastResume, r.LastResumeNs)
		}
	}
	st.firstDropNs = firstDrop
	if firstDrop > 0 {
		st.DropSpreadMs = float64(lastDrop-firstDrop) / 1e6
		if lastResume > firstDrop {
			st.ResumeSeconds = float64(lastResume-firstDrop) / 1e9
			st.ResumeRate = float64(st.Resumed) / st.ResumeSeconds
		}
		if complete {
			st.CompleteSeconds = float64(completeAt.UnixNano()-firstDrop) / 1e9
		}
	}
	st.Server = smp.res
}

// judge adds the storm's own failures to the run's: streams that did not
// come back, and gaps, told apart by whose fault they are.
func (st *stormResult) judge(r *result, reports []*workerReport) {
	st.Gaps = map[string]int{}
	for _, w := range reports {
		for k, n := range w.Gaps {
			st.Gaps[k] += n
		}
	}
	if st.ResumeFailed > 0 {
		st.Problems = append(st.Problems, fmt.Sprintf("%d streams did not resume", st.ResumeFailed))
	}
	if st.Dropped < r.Connected-r.ClosedDuringRun {
		st.Problems = append(st.Problems, fmt.Sprintf("only %d of %d streams were dropped", st.Dropped, r.Connected))
	}
	for _, k := range slices.Sorted(maps.Keys(st.Gaps)) {
		if k == "evicted" {
			st.Problems = append(st.Problems, fmt.Sprintf("%d gaps (evicted): the server's history was too short for the outage; raise its --history-per-channel or --history-age", st.Gaps[k]))
		} else {
			st.Problems = append(st.Problems, fmt.Sprintf("%d gaps (%s): resume failed", st.Gaps[k], k))
		}
	}
	if len(st.Problems) > 0 {
		r.Problems = append(r.Problems, st.Problems...)
		r.OK = false
	}
}

func (st *stormResult) writeTable(w io.Writer) {
	fmt.Fprintf(w, "\nstorm        drop after %d events: %d streams dropped at once (workers within %.0f ms), reconnects in flight per worker %s\n",
		st.After, st.Dropped, st.DropSpreadMs, concName(st.Concurrency))
	fmt.Fprintf(w, "resume       %d streaming again, %d failed, the last %.2f s after the drop (%.0f/s)\n",
		st.Resumed, st.ResumeFailed, st.ResumeSeconds, st.ResumeRate)
	for _, k := range slices.Sorted(maps.Keys(st.ResumeErrors)) {
		fmt.Fprintf(w, "             %d x %s\n", st.ResumeErrors[k], k)
	}
	fmt.Fprintf(w, "complete     every event on every stream %.2f s after the drop; the last event was published %.2f s after it\n",
		st.CompleteSeconds, st.LastPublishS)
	gaps := "none"
	if len(st.Gaps) > 0 {
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(st.Gaps)) {
			parts = append(parts, fmt.Sprintf("%d %s", st.Gaps[k], k))
		}
		gaps = strings.Join(parts, ", ")
	}
	fmt.Fprintf(w, "gaps         %s\n", gaps)
	st.Server.writeTable(w)
}

func concName(n int) string {
	if n == 0 {
		return "as --concurrency"
	}
	return fmt.Sprint(n)
}
