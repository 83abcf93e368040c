package main

import (
	"os"
	"path/filepath"
	"testing"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/ssedge/ssedge/poller"
)

// A new supervisor that refuses the old one's listening sockets (two TCP
// listeners split for different loop counts) closes its copies and
// leaves the unix socket file to the old supervisor, which still serves
// it.
func TestBoundRefusedKeepsUnixSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub.sock")
	old, err := poller.Bind(poller.Config{Listen: []string{"unix:" + path, "127.0.0.1:0", "127.0.0.1:0"}, Loops: 2}, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	lns, done, err := old.Handoff()
	if err != nil {
		t.Fatal(err)
	}
	defer done()
	// What the new supervisor receives: its own descriptors, the last
	// TCP listener one socket short.
	for i := range lns {
		for k, fd := range lns[i].FDs {
			d, err := unix.Dup(fd)
			if err != nil {
				t.Fatal(err)
			}
			lns[i].FDs[k] = d
		}
		if lns[i].HasLock {
			if lns[i].Lock, err = unix.Dup(lns[i].Lock); err != nil {
				t.Fatal(err)
			}
		}
	}
	last := &lns[len(lns)-1]
	unix.Close(last.FDs[1])
	last.FDs, last.N = last.FDs[:1], 1
	c := &upgradeChild{state: handoffState{Procs: 1, Loops: 2, Listeners: lns}}
	if _, err := c.bound(&serveOptions{procs: 1, loops: 2}, zap.NewNop()); err == nil {
		t.Fatal("listeners split for 2 and 1 loops were taken")
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the old supervisor's unix socket file: %v", err)
	}
}
