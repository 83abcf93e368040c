package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Out of descriptors, the server keeps serving the connections it has,
// logs the burst once, and accepts the queued clients once descriptors
// free up.
func TestOutOfDescriptors(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "pub.sock")
	logPath := filepath.Join(dir, "log")
	port := freePort(t)
	cmd := exec.Command("sh", "-c", fmt.Sprintf("ulimit -n 64 && exec %s serve --loops 1 --listen 127.0.0.1:%d --publish-socket %s 2>%s", bin, port, sock, logPath))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	waitLog(t, logPath, "ssedge serving")

	const clients = 90 // more than 64 descriptors allow
	type client struct {
		c      net.Conn
		br     *bufio.Reader
		head   atomic.Bool
		closed bool
	}
	cs := make([]*client, clients)
	var wg sync.WaitGroup
	for i := range cs {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		defer c.Close()
		cs[i] = &client{c: c, br: bufio.NewReader(c)}
		fmt.Fprintf(c, "GET /events?channel=fd HTTP/1.1\r\nHost: x\r\n\r\n")
		wg.Add(1)
		go func(cl *client) {
			defer wg.Done()
			cl.c.SetReadDeadline(time.Now().Add(20 * time.Second))
			if line, err := cl.br.ReadString('\n'); err == nil && strings.HasPrefix(line, "HTTP/1.1 200") {
				for l := ""; l != "\r\n" && err == nil; l, err = cl.br.ReadString('\n') {
				}
				cl.head.Store(true)
			}
		}(cs[i])
	}
	waitLog(t, logPath, "accept: out of resources")
	time.Sleep(300 * time.Millisecond)
	served := 0
	for _, cl := range cs {
		if cl.head.Load() {
			served++
		}
	}
	if served == 0 || served == clients {
		t.Fatalf("%d of %d clients served under a 64-descriptor limit", served, clients)
	}
	// Free descriptors: the queued clients get their streams.
	closed := 0
	for _, cl := range cs {
		if cl.head.Load() && closed < 45 {
			cl.c.Close()
			cl.closed = true
			closed++
		}
	}
	wg.Wait()
	for i, cl := range cs {
		if !cl.head.Load() {
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
		cl.c.SetReadDeadline(time.Now().Add(10 * time.Second))
		got := ""
		for !strings.Contains(got, "data: ") {
			line, err := cl.br.ReadString('\n')
			if err != nil {
				t.Fatalf("client %d after %q: %v", i, got, err)
			}
			got += line
		}
		if !strings.Contains(got, "data: still here\n") {
			t.Errorf("client %d: got %q", i, got)
		}
	}
	logText, _ := os.ReadFile(logPath)
	if n := strings.Count(string(logText), "accept: out of resources"); n != 1 {
		t.Errorf("burst logged %d times, want once:\n%s", n, logText)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func waitLog(t *testing.T, path, what string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		b, _ := os.ReadFile(path)
		if strings.Contains(string(b), what) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("log never said %q:\n%s", what, b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
