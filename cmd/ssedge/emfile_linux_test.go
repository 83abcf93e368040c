package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ssedge/ssedge/internal/ssetest"
)

// Out of descriptors, the server keeps serving the connections it has,
// logs the burst once, and accepts the queued clients once descriptors
// free up.
func TestOutOfDescriptors(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "pub.sock")
	logPath := filepath.Join(dir, "log")
	port := ssetest.FreePort(t)
	cmd := exec.Command("sh", "-c", fmt.Sprintf("ulimit -n 64 && exec %s serve --loops 1 --max-conns 1000 --listen 127.0.0.1:%d --publish-socket %s 2>%s", bin, port, sock, logPath))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	waitLog(t, logPath, "ssedge serving")
	pid := cmd.Process.Pid // the shell exec'd the server
	base := sockets(t, pid)

	const clients = 90 // more than 64 descriptors allow
	type client struct {
		st     atomic.Pointer[ssetest.Stream] // set once the client has its stream
		closed bool
	}
	cs := make([]*client, clients)
	var wg sync.WaitGroup
	for i := range cs {
		cs[i] = &client{}
		wg.Add(1)
		go func(cl *client) {
			defer wg.Done()
			st, err := ssetest.Subscribe(ssetest.Request{Addr: addr, Target: "/events?channel=fd", Timeout: 20 * time.Second})
			if err == nil {
				cl.st.Store(st)
			}
		}(cs[i])
	}
	t.Cleanup(func() {
		wg.Wait()
		for _, cl := range cs {
			if st := cl.st.Load(); st != nil {
				st.Close()
			}
		}
	})
	served := func() int {
		n := 0
		for _, cl := range cs {
			if cl.st.Load() != nil {
				n++
			}
		}
		return n
	}
	waitLog(t, logPath, "accept: out of resources")
	// Out of descriptors, the server holds all the sockets it can; wait
	// until each client it accepted has read its answer.
	ssetest.WaitFor(t, 20*time.Second, "every accepted client to have its stream", func() bool {
		return served() == sockets(t, pid)-base
	})
	if n := served(); n == 0 || n == clients {
		t.Fatalf("%d of %d clients served under a 64-descriptor limit", n, clients)
	}
	// Free descriptors: the queued clients get their streams.
	closed := 0
	for _, cl := range cs {
		if st := cl.st.Load(); st != nil && closed < 45 {
			st.Close()
			cl.closed = true
			closed++
		}
	}
	wg.Wait()
	for i, cl := range cs {
		if cl.st.Load() == nil {
			t.Fatalf("client %d never served after descriptors were freed", i)
		}
	}
	waitLog(t, logPath, "accept resumed")
	// The streams still open all get an event.
	out, err := exec.Command(bin, "publish", "--socket", sock, "--channel", "fd", "still here").CombinedOutput()
	if err != nil {
		t.Fatalf("publish: %v %s", err, out)
	}
	for i, cl := range cs {
		if cl.closed {
			continue
		}
		if f, err := cl.st.Load().NextEvent(10 * time.Second); err != nil || f.Data != "still here" {
			t.Errorf("client %d: got %q %v", i, f.Raw, err)
		}
	}
	// The first burst, retried with back-off until descriptors were
	// freed, is logged once. (The loop may take the first freed ones
	// before it has seen all 45 closes and run out once more: that is a
	// second burst.)
	logText, _ := os.ReadFile(logPath)
	first, _, _ := strings.Cut(string(logText), "accept resumed")
	if n := strings.Count(first, "accept: out of resources"); n != 1 {
		t.Errorf("first burst logged %d times, want once:\n%s", n, logText)
	}
}

// waitLog waits until the log file at path contains what.
func waitLog(t *testing.T, path, what string) {
	t.Helper()
	ssetest.WaitFor(t, 20*time.Second, fmt.Sprintf("the log to say %q", what), func() bool {
		b, _ := os.ReadFile(path)
		return strings.Contains(string(b), what)
	})
}
