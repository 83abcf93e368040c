package main

import (
	"fmt"
	"io"
	"os"
	"time"
)

// published is one event as the publisher sent it.
type published struct {
	Seq    int    `json:"seq"`
	ID     uint64 `json:"id"`
	SentNs int64  `json:"sent_ns"`
	RTTNs  int64  `json:"publish_rtt_ns"` // POST to answer
}

// runLoad is one measured run: baseline, connect, settle, publish, drain,
// report. Progress goes to log.
func runLoad(cfg *config, log io.Writer) (*result, error) {
	pub, err := newPublisher(cfg.publishSocket, cfg.publishURL, cfg.channel, cfg.event)
	if err != nil {
		return nil, err
	}
	defer pub.close()
	res := newResult(cfg)

	var baseline, connected, cpuStart, cpuEnd procSample
	sample := func(s *procSample) error {
		if cfg.serverPID == 0 {
			return nil
		}
		var err error
		*s, err = readProcTree(cfg.serverPID)
		return err
	}
	if err := sample(&baseline); err != nil {
		return nil, fmt.Errorf("ssedge-load: --server-pid %d: %w", cfg.serverPID, err)
	}
	res.Kernel.Baseline = readKernelSample() // kernmem.go
	// The floor goes first, while the server is idle and before the
	// workers exist, so that neither measurement sees the other's work.
	if cfg.floorPairs > 0 {
		if !cfg.quiet {
			fmt.Fprintf(log, "kernel floor: %d loopback connections, %d bursts of %d-byte writes\n", cfg.floorPairs, cfg.floorBursts, sseFrameBytes(cfg.size))
		}
		if res.Floor, err = measureFloor(cfg.floorPairs, cfg.floorBursts, sseFrameBytes(cfg.size)); err != nil {
			return nil, err
		}
	}

	exe, err := os.Executable()
	if err != nil {
		exe = os.Args[0]
	}
	connectStart := time.Now()
	ws, err := startWorkers(exe, cfg.jobs())
	if err != nil {
		return nil, err
	}
	defer ws.stop()

	progress := func() {
		if cfg.quiet {
			return
		}
		var ok, failed int
		for _, p := range ws.procs {
			ok, failed = ok+p.status.Connected, failed+p.status.Failed
		}
		elapsed := time.Since(connectStart).Seconds()
		fmt.Fprintf(log, "\rconnecting: %d/%d streaming, %d failed, %.0f conns/s   ", ok, cfg.conns, failed, float64(ok)/elapsed)
	}
	// Every connection has its own connect timeout, so the workers
	// finish; the deadline only guards against a wedged worker.
	deadline := connectStart.Add(cfg.connectTimeout + time.Duration(cfg.conns)*time.Millisecond + time.Minute)
	ok, err := ws.until(deadline, func() bool { return ws.all(func(p *workerProc) bool { return p.connected }) }, progress)
	progress()
	if !cfg.quiet {
		fmt.Fprintln(log)
	}
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("ssedge-load: workers still connecting after %s", time.Since(connectStart).Round(time.Second))
	}
	res.setConnect(ws.procs, time.Since(connectStart))

	time.Sleep(cfg.settle)
	if err := sample(&connected); err != nil {
		return nil, err
	}
	res.Kernel.Connected = readKernelSample()
	if res.Idle, err = measureIdle(cfg.serverPID, cfg.idle, log, cfg.quiet); err != nil {
		return nil, err
	}
	res.Idle.setHeartbeat(res.Connected, cfg.heartbeat)
	if err := sample(&cpuStart); err != nil {
		return nil, err
	}
	var sends []published
	if cfg.storm {
		sends, res.Storm, err = runStorm(cfg, pub, ws, log) // storm.go
	} else {
		sends, err = publishAll(cfg, pub, log)
	}
	if err != nil {
		return nil, err
	}
	_, err = ws.until(time.Now().Add(cfg.drain), func() bool { return ws.all(func(p *workerProc) bool { return p.complete }) }, nil)
	if err != nil {
		return nil, err
	}
	if err := sample(&cpuEnd); err != nil {
		return nil, err
	}

	if err := ws.broadcast(command{Cmd: "report"}); err != nil {
		return nil, err
	}
	ok, err = ws.until(time.Now().Add(time.Minute), func() bool { return ws.all(func(p *workerProc) bool { return p.report != nil }) }, nil)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("ssedge-load: workers sent no report within a minute")
	}
	reports := make([]*workerReport, len(ws.procs))
	for i, p := range ws.procs {
		reports[i] = p.report
	}
	res.setServer(cfg.serverPID != 0, []procSample{baseline, connected, cpuStart, cpuEnd})
	res.setDeliveries(sends, reports)
	res.Kernel.set(res.Connected)
	res.judge()
	if res.Storm != nil {
		res.Storm.judge(res, reports)
	}
	return res, nil
}

// publishAll posts cfg.events events, one every cfg.interval, each
// carrying its send time, pipelined: a slow answer delays no later event.
// It returns once every answer is in.
func publishAll(cfg *config, pub *publisher, log io.Writer) ([]published, error) {
	if cfg.publishRedial {
		return publishEach(cfg, pub, log)
	}
	type answered struct {
		id  uint64
		at  time.Time
		err error
	}
	answers := make(chan answered, cfg.events)
	go func() {
		for i := range cfg.events {
			id, err := pub.answer(i < cfg.events-1)
			answers <- answered{id, time.Now(), err}
			if err != nil {
				return
			}
		}
	}()
	fail := func(a answered, n int) error {
		return fmt.Errorf("%w (answer %d of %d)", a.err, n, cfg.events)
	}

	sends := make([]published, cfg.events)
	got := 0
	take := func(a answered) error {
		if a.err != nil {
			return fail(a, got+1)
		}
		s := &sends[got]
		s.ID, s.RTTNs = a.id, a.at.UnixNano()-s.SentNs
		got++
		return nil
	}
	var body []byte
	start := time.Now()
	for seq := 1; seq <= cfg.events; seq++ {
		time.Sleep(time.Until(start.Add(time.Duration(seq-1) * cfg.interval)))
		sent := time.Now()
		body = appendPayload(body[:0], cfg.run, seq, sent.UnixNano(), cfg.size)
		sends[seq-1] = published{Seq: seq, SentNs: sent.UnixNano()}
		if err := pub.send(body); err != nil {
			return nil, fmt.Errorf("%w (event %d of %d)", err, seq, cfg.events)
		}
		for drained := false; !drained; { // answers so far, without waiting
			select {
			case a := <-answers:
				if err := take(a); err != nil {
					return nil, err
				}
			default:
				drained = true
			}
		}
		if !cfg.quiet {
			fmt.Fprintf(log, "\rpublished %d/%d, %d answered   ", seq, cfg.events, got)
		}
	}
	for got < cfg.events {
		if err := take(<-answers); err != nil {
			return nil, err
		}
	}
	if !cfg.quiet {
		fmt.Fprintf(log, "\rpublished %d/%d, %d answered   \n", cfg.events, cfg.events, got)
	}
	return sends, nil
}

// publishEach is publishAll one request at a time (--publish-redial): each
// answer is read before the next event goes, and when the server has
// closed the connection before taking a request (a binary upgrade closes
// the old process's publisher connections), the publisher dials again and
// sends that request again. A request the old process did take gets its
// answer first, so nothing is published twice; the report's duplicate
// count would show it if it were.
func publishEach(cfg *config, pub *publisher, log io.Writer) ([]published, error) {
	sends := make([]published, cfg.events)
	var body []byte
	start := time.Now()
	for seq := 1; seq <= cfg.events; seq++ {
		time.Sleep(time.Until(start.Add(time.Duration(seq-1) * cfg.interval)))
		sent := time.Now()
		body = appendPayload(body[:0], cfg.run, seq, sent.UnixNano(), cfg.size)
		var id uint64
		var err error
		for try := 0; try < 3; try++ {
			if err = pub.send(body); err == nil {
				id, err = pub.answer(false)
			}
			if err == nil || !closedByServer(err) {
				break
			}
			if !cfg.quiet {
				fmt.Fprintf(log, "\rpublish connection closed by the server (%v): dialing again\n", err)
			}
			if err = pub.redial(); err != nil {
				break
			}
		}
		if err != nil {
			return nil, fmt.Errorf("%w (event %d of %d)", err, seq, cfg.events)
		}
		sends[seq-1] = published{Seq: seq, SentNs: sent.UnixNano(), ID: id, RTTNs: time.Now().UnixNano() - sent.UnixNano()}
		if !cfg.quiet {
			fmt.Fprintf(log, "\rpublished %d/%d, %d answered   ", seq, cfg.events, seq)
		}
	}
	if !cfg.quiet {
		fmt.Fprintln(log)
	}
	return sends, nil
}
