package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"time"
)

// workerProc is the parent's handle on one worker process.
type workerProc struct {
	cmd       *exec.Cmd
	stdin     io.WriteCloser
	out       *messenger
	status    message // latest progress or connected message
	connected bool    // sent "connected"
	complete  bool    // sent "complete"
	report    *workerReport
	dropped   *stormWorker // storm: the drop, then the resume
	resumed   *stormWorker
}

type inboxMsg struct {
	worker int
	msg    message
	err    error // the worker's stdout ended or held garbage
}

// workerSet is the parent's side of the workers; only the parent's main
// goroutine uses it. One reader goroutine per worker feeds inbox.
type workerSet struct {
	procs []*workerProc
	inbox chan inboxMsg
}

// startWorkers re-executes exe as one worker per job and hands each its job.
func startWorkers(exe string, jobs []*workerJob) (*workerSet, error) {
	ws := &workerSet{inbox: make(chan inboxMsg, 16*len(jobs))}
	for i, job := range jobs {
		cmd := exec.Command(exe, workerFlag)
		cmd.Stderr = os.Stderr
		stdin, err := cmd.StdinPipe()
		if err != nil {
			ws.stop()
			return nil, err
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			ws.stop()
			return nil, err
		}
		if err := cmd.Start(); err != nil {
			ws.stop()
			return nil, fmt.Errorf("ssedge-load: starting worker %q: %w", exe, err)
		}
		p := &workerProc{cmd: cmd, stdin: stdin, out: newMessenger(stdin)}
		ws.procs = append(ws.procs, p)
		go ws.readMessages(i, stdout)
		if err := p.out.send(command{Cmd: "start", Job: job}); err != nil {
			ws.stop()
			return nil, fmt.Errorf("ssedge-load: worker %d: %w", i, err)
		}
	}
	return ws, nil
}

func (ws *workerSet) readMessages(i int, r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 256<<20)
	for sc.Scan() {
		var m message
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			ws.inbox <- inboxMsg{worker: i, err: fmt.Errorf("ssedge-load: worker %d said %q: %w", i, clip(sc.Bytes()), err)}
			return
		}
		ws.inbox <- inboxMsg{worker: i, msg: m}
	}
	err := sc.Err()
	if err == nil {
		err = errors.New("exited")
	}
	ws.inbox <- inboxMsg{worker: i, err: fmt.Errorf("ssedge-load: worker %d: %w", i, err)}
}

// receive waits up to timeout for one message and applies it. It reports
// false on timeout.
func (ws *workerSet) receive(timeout time.Duration) (bool, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case m := <-ws.inbox:
		if m.err != nil {
			return true, m.err
		}
		p := ws.procs[m.worker]
		switch m.msg.Type {
		case "progress":
			p.status = m.msg
		case "connected":
			p.status, p.connected = m.msg, true
		case "dropped":
			p.dropped = m.msg.Storm
		case "resumed":
			p.status, p.resumed = m.msg, m.msg.Storm
		case "complete":
			p.complete = true
		case "report":
			p.report = m.msg.Report
		case "fatal":
			return true, fmt.Errorf("ssedge-load: worker %d: %s", m.worker, m.msg.Error)
		default:
			return true, fmt.Errorf("ssedge-load: worker %d: unknown message %q", m.worker, m.msg.Type)
		}
		return true, nil
	case <-t.C:
		return false, nil
	}
}

// until receives messages until done reports true or the deadline passes;
// it reports whether done was reached. tick, if not nil, runs at least
// every 250 ms.
func (ws *workerSet) until(deadline time.Time, done func() bool, tick func()) (bool, error) {
	for !done() {
		wait := min(time.Until(deadline), 250*time.Millisecond)
		if wait <= 0 {
			return false, nil
		}
		if _, err := ws.receive(wait); err != nil {
			return false, err
		}
		if tick != nil {
			tick()
		}
	}
	return true, nil
}

func (ws *workerSet) all(f func(*workerProc) bool) bool {
	for _, p := range ws.procs {
		if !f(p) {
			return false
		}
	}
	return true
}

func (ws *workerSet) broadcast(c command) error {
	for i, p := range ws.procs {
		if err := p.out.send(c); err != nil {
			return fmt.Errorf("ssedge-load: worker %d: %w", i, err)
		}
	}
	return nil
}

// stop asks every worker to quit, and kills those that do not within 10 s.
func (ws *workerSet) stop() {
	for _, p := range ws.procs {
		p.out.send(command{Cmd: "quit"})
		p.stdin.Close()
	}
	for _, p := range ws.procs {
		done := make(chan struct{})
		go func() {
			p.cmd.Wait()
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			p.cmd.Process.Kill()
			<-done
		}
	}
	// Let the readers finish so none blocks on a full inbox forever.
	for {
		select {
		case <-ws.inbox:
		default:
			return
		}
	}
}
