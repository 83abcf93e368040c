package ssetest

import (
	"bufio"
	"io"
	"strings"
	"sync"
	"testing"
	"time"
)

// pollEvery is how often WaitFor looks again: short against every
// deadline, long enough not to load a 2-core box.
const pollEvery = 10 * time.Millisecond

// WaitFor polls cond until it holds, failing the test with what after
// timeout. It is the one way tests wait for a state: a Stats counter, a
// log line, a socket or /proc state — never a bare sleep.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	if !Until(timeout, cond) {
		t.Fatalf("timed out after %v waiting for %s", timeout, what)
	}
}

// Until polls cond until it holds (true) or timeout passes (false), for a
// test that words its own failure or a cleanup that must not fail.
func Until(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(pollEvery)
	}
	return true
}

// Log collects the lines a subprocess writes, for tests that wait for one.
type Log struct {
	mu    sync.Mutex
	lines []string
	done  bool
}

// Follow reads r's lines (up to 1 MiB each) into l until r ends; run it
// on its own goroutine.
func (l *Log) Follow(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	l.Scan(sc)
}

// Scan is Follow for a scanner that may already have been read from.
func (l *Log) Scan(sc *bufio.Scanner) {
	for sc.Scan() {
		l.Add(sc.Text())
	}
	l.mu.Lock()
	l.done = true
	l.mu.Unlock()
}

// Add appends one line.
func (l *Log) Add(line string) {
	l.mu.Lock()
	l.lines = append(l.lines, line)
	l.mu.Unlock()
}

// Lines returns a copy of the lines so far.
func (l *Log) Lines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...)
}

// Ended reports whether the followed reader has ended.
func (l *Log) Ended() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.done
}

// String is the lines so far, each ended by LF.
func (l *Log) String() string {
	var b strings.Builder
	for _, s := range l.Lines() {
		b.WriteString(s + "\n")
	}
	return b.String()
}

// Count is how many lines so far contain every one of parts.
func (l *Log) Count(parts ...string) int {
	n := 0
	for _, line := range l.Lines() {
		if containsAll(line, parts) {
			n++
		}
	}
	return n
}

// Wait waits until n lines contain every one of parts, failing the test
// (with the log) after timeout.
func (l *Log) Wait(t testing.TB, timeout time.Duration, n int, parts ...string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for l.Count(parts...) < n {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %d log lines with %q; the log:\n%s", timeout, n, parts, l)
		}
		time.Sleep(pollEvery)
	}
}

func containsAll(s string, parts []string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}
