package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/ssedge/ssedge/internal/auth"
	"github.com/ssedge/ssedge/internal/ssetest"
)

// startConfigured runs `ssedge serve --config path` on a free port, with
// no other setting on the command line besides extra (so the file's
// log-level counts), and waits for it to serve.
func startConfigured(t *testing.T, path string, extra ...string) *server {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "pub.sock")
	return runServer(t, sock, append([]string{"--config", path, "--listen", "127.0.0.1:0", "--publish-socket", sock}, extra...)...)
}

// reload rewrites the configuration file, sends SIGHUP and waits until
// the server has logged n lines with all of parts in all.
func (s *server) reload(t *testing.T, path, text string, n int, parts ...string) {
	t.Helper()
	tmp := path + ".new"
	if err := os.WriteFile(tmp, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil { // whole, as an editor or config manager writes it
		t.Fatal(err)
	}
	if err := s.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	s.logs.Wait(t, 10*time.Second, n, parts...)
}

// firstRetry opens a stream and returns it with the retry: advice of its
// first frame.
func firstRetry(t *testing.T, addr string) (*stream, int) {
	t.Helper()
	st := openStream(t, addr, "/events?channel=r")
	f, err := st.st.Next(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return st, f.Retry
}

// status answers the status of GET target.
func status(t *testing.T, addr, target string) int {
	t.Helper()
	st, err := ssetest.Open(ssetest.Request{Addr: addr, Target: target})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	return st.Status
}

// SIGHUP with a new heartbeat, retry and connection limit: new
// connections get them, an open stream keeps its connection and its
// events, and the new heartbeat reaches the streams.
func TestReloadLimitsKeepStreams(t *testing.T) {
	path := writeConfig(t, "heartbeat = \"30s\"\nretry = \"2s\"\nmax-conns = 10\nlog-level = \"debug\"\n")
	s := startConfigured(t, path)
	old, retry := firstRetry(t, s.listen)
	if retry != 2000 {
		t.Fatalf("retry %d before the reload, want 2000", retry)
	}
	s.waitSubscribed(t, 1)

	s.reload(t, path, "heartbeat = \"200ms\"\nretry = \"7s\"\nmax-conns = 2\nlog-level = \"debug\"\n",
		1, `"msg":"config reloaded"`, `"heartbeat"`, `"max-conns"`, `"retry"`, `"reloads_ok":1`)
	fresh, retry := firstRetry(t, s.listen)
	if retry != 7000 {
		t.Fatalf("retry %d after the reload, want 7000", retry)
	}
	if got := status(t, s.listen, "/events?channel=r"); got != 503 {
		t.Fatalf("a third connection over the reloaded max-conns = 2: status %d, want 503", got)
	}
	s.waitSubscribed(t, 2)
	id := publishID(t, s.socket, "r", "after the reload")
	for i, st := range []*stream{old, fresh} {
		if got, err := st.ids(1); err != nil || got[0] != id {
			t.Fatalf("stream %d: %v %v, want event %d", i, got, err, id)
		}
	}
	// A heartbeat comes within a few of the new 200 ms intervals; the old
	// interval was 30 s.
	f, err := old.st.Next(3 * time.Second)
	if err != nil || len(f.Comments) == 0 {
		t.Fatalf("no heartbeat on the old stream after the reload: %+v %v", f, err)
	}
}

// SIGHUP with a broken file (and then with a key file that cannot be
// read) is refused and counted: the old configuration stays and streams
// go on; a fixed file is taken.
func TestReloadBrokenFileKeepsServing(t *testing.T) {
	path := writeConfig(t, "retry = \"2s\"\n")
	s := startServer(t, "--config", path)
	st, _ := firstRetry(t, s.listen)
	s.waitSubscribed(t, 1)

	s.reload(t, path, "retry = \"5s\"\nheartbeet = \"1s\"\n",
		1, `"msg":"config reload refused; the configuration in force stays"`, `:2: key \"heartbeet\"`, `"reloads_failed":1`)
	s.reload(t, path, "retry = \"5s\"\nprivate-prefix = [\"p-\"]\nauth-secret-file = \"/nonexistent/secret\"\n",
		1, `"msg":"config reload refused; the configuration in force stays"`, `auth-secret-file`, `"reloads_failed":2`)
	if _, retry := firstRetry(t, s.listen); retry != 2000 {
		t.Fatalf("retry %d after refused reloads, want the old 2000", retry)
	}
	id := publishID(t, s.socket, "r", "still here")
	if got, err := st.ids(1); err != nil || got[0] != id {
		t.Fatalf("stream after refused reloads: %v %v, want %d", got, err, id)
	}
	s.reload(t, path, "retry = \"5s\"\n", 1, `"msg":"config reloaded"`, `"reloads_ok":1`)
	if _, retry := firstRetry(t, s.listen); retry != 5000 {
		t.Fatalf("retry %d after the fixed file, want 5000", retry)
	}
}

// Rotating the HS256 secret: after the reload a token signed with the new
// secret works at once and one signed with the old secret still works
// (the overlap) until the next reload; a stream opened with the old token
// is not closed.
func TestReloadSecretRotation(t *testing.T) {
	oldSecret := []byte("the-old-secret-0123456789abcdef-0123")
	newSecret := []byte("the-new-secret-0123456789abcdef-0123")
	secretFile := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secretFile, oldSecret, 0o600); err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf("private-prefix = [\"private-\"]\nauth-secret-file = %q\n", secretFile)
	path := writeConfig(t, conf)
	s := startServer(t, "--config", path)
	token := func(secret []byte) string {
		tok, err := auth.Mint(secret, []string{"private-*"}, time.Hour, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return "/events?channel=private-a&token=" + tok
	}
	oldTok, newTok := token(oldSecret), token(newSecret)
	if a, b := status(t, s.listen, oldTok), status(t, s.listen, newTok); a != 200 || b != 401 {
		t.Fatalf("before the rotation: old token %d, new token %d; want 200 and 401", a, b)
	}
	held := openStream(t, s.listen, oldTok)
	s.waitSubscribed(t, 2)

	if err := os.WriteFile(secretFile, newSecret, 0o600); err != nil {
		t.Fatal(err)
	}
	s.reload(t, path, conf, 1, `"msg":"config reloaded"`)
	if a, b := status(t, s.listen, oldTok), status(t, s.listen, newTok); a != 200 || b != 200 {
		t.Fatalf("in the overlap: old token %d, new token %d; want 200 and 200", a, b)
	}
	s.reload(t, path, conf, 2, `"msg":"config reloaded"`)
	if a, b := status(t, s.listen, oldTok), status(t, s.listen, newTok); a != 401 || b != 200 {
		t.Fatalf("after the next reload: old token %d, new token %d; want 401 and 200", a, b)
	}
	id := publishID(t, s.socket, "private-a", "for the held stream")
	if got, err := held.ids(1); err != nil || got[0] != id {
		t.Fatalf("stream opened with the old token: %v %v, want %d", got, err, id)
	}
}

// The log level follows the file: debug lines (a subscription) appear
// only once a reload has set debug.
func TestReloadLogLevel(t *testing.T) {
	path := writeConfig(t, "log-level = \"info\"\n")
	s := startConfigured(t, path)
	st := openStream(t, s.listen, "/events?channel=r")
	// Once the stream has an event, its subscription has been handled
	// (and would have been logged at debug).
	id := publishID(t, s.socket, "r", "x")
	if got, err := st.ids(1); err != nil || got[0] != id {
		t.Fatalf("%v %v", got, err)
	}
	if n := s.logs.Count(`"msg":"subscribe"`); n != 0 {
		t.Fatalf("%d debug lines at level info", n)
	}
	s.reload(t, path, "log-level = \"debug\"\n", 1, `"msg":"config reloaded"`, `"log-level"`)
	openStream(t, s.listen, "/events?channel=r")
	s.waitSubscribed(t, 1)
	// Back to warn: the reload is still logged (under the more verbose of
	// the two levels), later debug lines are not.
	s.reload(t, path, "log-level = \"warn\"\n", 2, `"msg":"config reloaded"`)
	st = openStream(t, s.listen, "/events?channel=r")
	id = publishID(t, s.socket, "r", "y")
	if got, err := st.ids(1); err != nil || got[0] != id {
		t.Fatalf("%v %v", got, err)
	}
	if n := s.logs.Count(`"msg":"subscribe"`); n != 1 {
		t.Fatalf("%d subscribe lines, want the 1 logged at debug", n)
	}
}

// A setting that needs a restart is named in the log and keeps its value.
func TestReloadNamesRestartSettings(t *testing.T) {
	path := writeConfig(t, "ring-size = 1024\nretry = \"2s\"\n")
	s := startServer(t, "--config", path)
	s.reload(t, path, "ring-size = 2048\nretry = \"4s\"\n", 1, `"needs_restart":["ring-size"]`)
	if _, retry := firstRetry(t, s.listen); retry != 4000 {
		t.Fatalf("retry %d: the live part of the reload is not in force", retry)
	}
}

// With --procs 3 the supervisor checks the file and passes the reload to
// every worker: each logs it, none dies of SIGHUP, every worker's new
// clients get the new retry, and open streams keep receiving. A broken
// file stops at the supervisor.
func TestReloadProcs(t *testing.T) {
	path := writeConfig(t, "retry = \"2s\"\n")
	s := startServer(t, "--procs", "3", "--loops", "1", "--config", path)
	workers := children(t, s.cmd.Process.Pid)
	var held []*stream
	for range 6 {
		st, _ := firstRetry(t, s.listen)
		held = append(held, st)
	}
	s.waitSubscribed(t, 6)

	s.reload(t, path, "retry = \"7s\"\n", 3, `"msg":"config reloaded"`, `"worker"`)
	s.logs.Wait(t, 10*time.Second, 4, `"msg":"config reloaded"`) // and the supervisor
	for i := range 12 {                                          // SO_REUSEPORT spreads them over every worker
		if _, retry := firstRetry(t, s.listen); retry != 7000 {
			t.Fatalf("client %d after the reload: retry %d, want 7000", i, retry)
		}
	}
	s.reload(t, path, "retry = 7\n", 1, `"msg":"config reload refused; the configuration in force stays"`)
	if n := s.logs.Count(`"msg":"config reload`, `"worker"`); n != 3 {
		t.Fatalf("%d worker reload lines, want the 3 of the good reload", n)
	}
	if now := children(t, s.cmd.Process.Pid); !slices.Equal(sortedInts(now), sortedInts(workers)) {
		t.Fatalf("workers %v after the reloads, want the same %v", now, workers)
	}
	// The file on disk is still the refused one. A worker that dies now
	// is restarted with the configuration in force (the supervisor's
	// snapshot), not with the file: it starts, and serves retry 7 s.
	syscall.Kill(workers[0], syscall.SIGKILL)
	waitReplaced(t, s.cmd.Process.Pid, 3, workers[0], 30*time.Second)
	s.logs.Wait(t, 10*time.Second, 1, `"msg":"subscriber loops started"`) // the restarted worker (the first three logged before serving)
	for i := range 12 {
		if _, retry := firstRetry(t, s.listen); retry != 7000 {
			t.Fatalf("client %d after a worker restart: retry %d, want 7000", i, retry)
		}
	}
	id := publishID(t, s.socket, "r", "after the reloads")
	for i, st := range held {
		if got, err := st.ids(1); err != nil || got[0] != id {
			if errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) {
				continue // on the killed worker
			}
			t.Fatalf("held stream %d: %v %v, want %d", i, got, err, id)
		}
	}
}

func sortedInts(s []int) []int {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// A reload that brings a token key together with what needs it — a
// private rule and a private prefix — is put in force whole: open streams
// that the new configuration no longer allows get ssedge.revoked and are
// closed (the check runs under the new keys and prefixes), a newcomer gets
// 401, and a stream on a public channel keeps receiving.
func TestReloadMakesChannelsPrivate(t *testing.T) {
	path := writeConfig(t, "log-level = \"debug\"\n")
	s := startConfigured(t, path)
	vip := openStream(t, s.listen, "/events?channel=vip")
	pre := openStream(t, s.listen, "/events?channel=pre-x")
	open := openStream(t, s.listen, "/events?channel=open")
	s.waitSubscribed(t, 3)

	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte("0123456789abcdef0123456789abcdef-reload"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.reload(t, path, fmt.Sprintf("log-level = \"debug\"\nauth-secret-file = %q\nprivate-prefix = [\"pre-\"]\n\n[[channel]]\nmatch = \"vip\"\nprivate = true\n", secret),
		1, `"msg":"config reloaded"`)
	for name, st := range map[string]*stream{"vip (a rule)": vip, "pre-x (a prefix)": pre} {
		f, err := st.st.NextEvent(10 * time.Second)
		if err != nil || f.Event != "ssedge.revoked" {
			t.Fatalf("%s after the reload: %+v %v, want ssedge.revoked", name, f, err)
		}
		if _, err := st.st.Next(10 * time.Second); !errors.Is(err, io.EOF) {
			t.Fatalf("%s after ssedge.revoked: %v, want the stream closed", name, err)
		}
	}
	for _, target := range []string{"/events?channel=vip", "/events?channel=pre-y"} {
		resp, err := ssetest.Open(ssetest.Request{Addr: s.listen, Target: target})
		if err != nil {
			t.Fatal(err)
		}
		if resp.Status != 401 {
			t.Errorf("%s after the reload: status %d, want 401", target, resp.Status)
		}
		resp.Close()
	}
	id := publishID(t, s.socket, "open", "still here")
	if got, err := open.ids(1); err != nil || got[0] != id {
		t.Fatalf("the public stream after the reload: %v %v, want %d", got, err, id)
	}
}
