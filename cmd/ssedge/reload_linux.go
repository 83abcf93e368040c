package main

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"go.uber.org/zap"
)

// configSnapshot is the supervisor's copy of the configuration file in
// force, in a directory only this user can read; nil without --config.
type configSnapshot struct{ dir, path string }

func newConfigSnapshot(src []byte) (*configSnapshot, error) {
	dir, err := os.MkdirTemp("", "ssedge-config-*") // mode 0700
	if err != nil {
		return nil, fmt.Errorf("config snapshot for the workers: %w", err)
	}
	c := &configSnapshot{dir: dir, path: filepath.Join(dir, "config.toml")}
	if err := c.write(src); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return c, nil
}

// write replaces the snapshot at once (rename), so a worker starting
// meanwhile reads the old file or the new one, never half of one.
func (c *configSnapshot) write(src []byte) error {
	tmp := c.path + ".new"
	if err := os.WriteFile(tmp, src, 0o600); err != nil {
		return fmt.Errorf("config snapshot for the workers: %w", err)
	}
	if err := os.Rename(tmp, c.path); err != nil {
		return fmt.Errorf("config snapshot for the workers: %w", err)
	}
	return nil
}

func (c *configSnapshot) env() []string {
	if c == nil {
		return nil
	}
	return []string{workerConfigEnv + "=" + c.path}
}

func (c *configSnapshot) remove() {
	if c != nil {
		os.RemoveAll(c.dir)
	}
}

// workerReloads is the supervisor's record for passing reloads on. Guarded
// by supervisor.mu.
type workerReloads struct {
	gen   int                 // reloads passed on so far
	ready map[int]*os.Process // workers that said they are ready: they handle SIGHUP
}

// reloadWorkers passes a reload on to every ready worker: first the
// accepted file into the workers' snapshot, then a SIGHUP. A worker that
// is still starting would die of a SIGHUP; it gets the reload once ready
// (workerReady). applied runs once the copies are written, before any
// worker is signalled; not at all if a copy cannot be written (the
// workers then keep the configuration they run).
func (s *supervisor) reloadWorkers(o *serveOptions, applied func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.config != nil && o.file != nil {
		if err := s.config.write(o.file.src); err != nil {
			s.log.Error("config reload not passed to the workers; they keep the configuration they run", zap.Error(err))
			return
		}
	}
	applied()
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
