//go:build unix

package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ssedge/ssedge/internal/ssetest"
)

// browser is a headless Chromium driven over the DevTools protocol on a
// pipe (--remote-debugging-pipe): Chromium reads NUL-terminated JSON
// commands on its fd 3 and writes replies and events on its fd 4.
type browser struct {
	cmd  *exec.Cmd
	out  *os.File // our end of Chromium's fd 3
	mu   sync.Mutex
	next int
	wait map[int]chan cdpReply
	dead chan struct{} // closed when Chromium's fd 4 ends
}

type cdpReply struct {
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Message string `json:"message"`
	} `json:"error"`
}

// startBrowser runs Chromium with the flags this machine needs (headless,
// as root without the sandbox, no background networking) and a fresh
// profile.
func startBrowser(t *testing.T) *browser {
	t.Helper()
	bin := ssetest.NeedTool(t, "chromium")
	cmdR, cmdW, err := os.Pipe() // commands: we write, Chromium reads fd 3
	if err != nil {
		t.Fatal(err)
	}
	evR, evW, err := os.Pipe() // replies: Chromium writes fd 4, we read
	if err != nil {
		t.Fatal(err)
	}
	// Not t.TempDir: Chromium's helper processes may still write the
	// profile while the test's own cleanup runs.
	profile, err := os.MkdirTemp("", "ssedge-e2e-chromium")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir="+profile, "--remote-debugging-pipe", "about:blank")
	cmd.ExtraFiles = []*os.File{cmdR, evW}
	// Its own process group, so the cleanup ends its helpers too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr := &ssetest.Log{}
	pr, pw, _ := os.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	go stderr.Follow(pr)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	cmdR.Close()
	evW.Close()
	pw.Close()
	b := &browser{cmd: cmd, out: cmdW, wait: map[int]chan cdpReply{}, dead: make(chan struct{})}
	t.Cleanup(func() {
		// Closing the command pipe makes Chromium exit; the group kill is
		// for helpers that outlive it.
		cmdW.Close()
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
		}
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
		// Helpers killed with the group may still be writing the profile
		// as they go: try again until none does, for a while.
		ssetest.Until(2*time.Second, func() bool { return os.RemoveAll(profile) == nil })
		if t.Failed() {
			t.Logf("chromium output:\n%s", joinLines(stderr.Lines()))
		}
	})
	go b.read(evR)
	return b
}

func (b *browser) read(r *os.File) {
	defer close(b.dead)
	br := bufio.NewReader(r)
	for {
		msg, err := br.ReadBytes(0)
		if err != nil {
			return
		}
		var m struct {
			ID int `json:"id"`
			cdpReply
		}
		if json.Unmarshal(msg[:len(msg)-1], &m) != nil || m.ID == 0 {
			continue // an event: not needed here
		}
		b.mu.Lock()
		ch := b.wait[m.ID]
		delete(b.wait, m.ID)
		b.mu.Unlock()
		if ch != nil {
			ch <- m.cdpReply
		}
	}
}

// call sends one command (to the browser, or to a page's session when
// session is set) and decodes its result into result.
func (b *browser) call(t *testing.T, session, method string, params, result any) {
	t.Helper()
	b.mu.Lock()
	b.next++
	id := b.next
	ch := make(chan cdpReply, 1)
	b.wait[id] = ch
	b.mu.Unlock()
	msg := map[string]any{"id": id, "method": method, "params": params}
	if session != "" {
		msg["sessionId"] = session
	}
	buf, _ := json.Marshal(msg)
	if _, err := b.out.Write(append(buf, 0)); err != nil {
		t.Fatalf("devtools %s: %v", method, err)
	}
	select {
	case r := <-ch:
		if r.Error != nil {
			t.Fatalf("devtools %s: %s", method, r.Error.Message)
		}
		if result != nil {
			if err := json.Unmarshal(r.Result, result); err != nil {
				t.Fatalf("devtools %s: %v in %s", method, err, r.Result)
			}
		}
	case <-b.dead:
		t.Fatalf("devtools %s: chromium went away", method)
	case <-time.After(30 * time.Second):
		t.Fatalf("devtools %s: no reply in 30 s", method)
	}
}

// open opens url in a new tab and returns the tab's session.
func (b *browser) open(t *testing.T, url string) string {
	t.Helper()
	var target struct {
		TargetID string `json:"targetId"`
	}
	b.call(t, "", "Target.createTarget", map[string]any{"url": url}, &target)
	var att struct {
		SessionID string `json:"sessionId"`
	}
	b.call(t, "", "Target.attachToTarget", map[string]any{"targetId": target.TargetID, "flatten": true}, &att)
	return att.SessionID
}

// eval evaluates a JavaScript expression that yields a string in the tab.
func (b *browser) eval(t *testing.T, session, expr string) string {
	t.Helper()
	var r struct {
		Result struct {
			Value any `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text string `json:"text"`
		} `json:"exceptionDetails"`
	}
	b.call(t, session, "Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true}, &r)
	if r.ExceptionDetails != nil {
		t.Fatalf("evaluate %s: %s", expr, r.ExceptionDetails.Text)
	}
	s, _ := r.Result.Value.(string)
	return s
}

func joinLines(lines []string) string {
	s := ""
	for _, l := range lines {
		s += fmt.Sprintln(l)
	}
	return s
}
