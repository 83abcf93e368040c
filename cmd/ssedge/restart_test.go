package main

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Across a restart, new ids are above every id the previous process
// issued, and a client resuming with an old id gets a gap event (reason
// "restart"), not a replay of the wrong events.
func TestRestartIDsAndGap(t *testing.T) {
	a := startServer(t)
	var old uint64
	for i := 0; i < 3; i++ {
		old = publishID(t, a.socket, "news", fmt.Sprint(i))
	}
	a.cmd.Process.Signal(syscall.SIGTERM)
	a.cmd.Wait()

	b := startServer(t)
	c, err := net.Dial("tcp", b.listen)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET /events?channel=news HTTP/1.1\r\nHost: x\r\nLast-Event-ID: %d\r\n\r\n", old)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	var stream strings.Builder
	for !strings.Contains(stream.String(), "event: ssedge.gap\n") || !strings.HasSuffix(stream.String(), "\n\n") {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("after %q: %v", stream.String(), err)
		}
		stream.WriteString(line)
	}
	if want := fmt.Sprintf(`"lastEventId":%d`, old); !strings.Contains(stream.String(), want) || !strings.Contains(stream.String(), `"reason":"restart"`) {
		t.Fatalf("gap event %q, want it to name %s and reason restart", stream.String(), want)
	}
	if id := publishID(t, b.socket, "news", "after restart"); id <= old {
		t.Fatalf("id %d after a restart is not above the previous process's %d", id, old)
	}
}
