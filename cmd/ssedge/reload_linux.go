package main

import (
	"os"
	"syscall"
)

// workerReloads is the supervisor's record for passing reloads on. Guarded
// by supervisor.mu.
type workerReloads struct {
	gen   int                 // reloads passed on so far
	ready map[int]*os.Process // workers that said they are ready: they handle SIGHUP
}

// reloadWorkers passes a reload on to every ready worker. A worker that is
// still starting would die of a SIGHUP; it gets the reload once ready
// (workerReady).
func (s *supervisor) reloadWorkers() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reloads.gen++
	for _, p := range s.reloads.ready {
		p.Signal(syscall.SIGHUP)
	}
}

// workerReady records worker i (process p, forked when gen reloads had
// been passed on) as ready, and passes it the reload it may have missed.
func (s *supervisor) workerReady(i int, p *os.Process, gen int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.procs[i] != p {
		return // it has exited already
	}
	if s.reloads.ready == nil {
		s.reloads.ready = make(map[int]*os.Process)
	}
	s.reloads.ready[i] = p
	if s.reloads.gen != gen {
		p.Signal(syscall.SIGHUP)
	}
}
