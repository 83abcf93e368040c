package main

import (
	"fmt"
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
	st := openStream(t, b.listen, "/events?channel=news", fmt.Sprintf("Last-Event-ID: %d", old))
	f, err := st.st.NextEvent(10 * time.Second)
	if err != nil || f.Event != "ssedge.gap" {
		t.Fatalf("first event %q %v, want ssedge.gap", f.Raw, err)
	}
	if want := fmt.Sprintf(`"lastEventId":%d`, old); !strings.Contains(f.Data, want) || !strings.Contains(f.Data, `"reason":"restart"`) {
		t.Fatalf("gap event %q, want it to name %s and reason restart", f.Raw, want)
	}
	if id := publishID(t, b.socket, "news", "after restart"); id <= old {
		t.Fatalf("id %d after a restart is not above the previous process's %d", id, old)
	}
}
