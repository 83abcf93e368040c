package ssetest

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// serveOnce accepts one connection on l, reads its request head, hands it
// to check and writes answer; hangUp says whether to close after it.
func serveOnce(t *testing.T, l net.Listener, answer string, hangUp bool, check func(c net.Conn, head string)) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := l.Accept()
		if err != nil {
			return
		}
		br := bufio.NewReader(c)
		head := ""
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				c.Close()
				return
			}
			head += line
			if line == "\r\n" {
				break
			}
		}
		if check != nil {
			check(c, head)
		}
		io.WriteString(c, answer)
		if hangUp {
			c.Close()
		} else {
			t.Cleanup(func() { c.Close() })
		}
	}()
	t.Cleanup(func() { l.Close(); <-done })
}

func listenTCP(t *testing.T) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

const streamHead = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n\r\n"

// Over TCP: the request carries the target, Host and the extra headers;
// the head is kept; frames arrive in order, control blocks included; a
// read past the last frame times out with a clear error, and the end of
// the stream is an EOF error.
func TestStreamTCP(t *testing.T) {
	l := listenTCP(t)
	got := make(chan string, 1)
	serveOnce(t, l, streamHead+"retry: 3000\n\n: hb\n\nid: 1\nevent: e\ndata: a\n\nid: 2\ndata: b", true, func(_ net.Conn, head string) { got <- head })
	s, err := Subscribe(Request{Addr: l.Addr().String(), Target: "/events?channel=a", Header: []string{"Last-Event-ID: 0"}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if h := <-got; !strings.HasPrefix(h, "GET /events?channel=a HTTP/1.1\r\nHost: test\r\n") || !strings.Contains(h, "\r\nLast-Event-ID: 0\r\n") {
		t.Errorf("request %q", h)
	}
	if s.Status != 200 || s.Header.Get("Cache-Control") != "no-cache" || s.Head != streamHead {
		t.Errorf("head %d %v %q", s.Status, s.Header, s.Head)
	}
	if f, err := s.Next(time.Second); err != nil || f.Retry != 3000 || !f.Control() {
		t.Fatalf("first frame %+v %v, want retry advice", f, err)
	}
	if f, err := s.NextEvent(time.Second); err != nil || f.ID != "1" || f.Event != "e" || f.Data != "a" {
		t.Fatalf("NextEvent %+v %v, want event 1 past the heartbeat", f, err)
	}
	_, err = s.Next(time.Second) // event 2 lacks its blank line, and then the stream ends
	if !errors.Is(err, io.EOF) || !strings.Contains(err.Error(), "stream ended") || !strings.Contains(err.Error(), `"id: 2\ndata: b"`) {
		t.Fatalf("at the end: %v, want an EOF error quoting the partial frame", err)
	}
}

func TestStreamTimeout(t *testing.T) {
	l := listenTCP(t)
	serveOnce(t, l, streamHead+"data: a\n", false, nil)
	s := MustSubscribe(t, Request{Addr: l.Addr().String(), Target: "/events"})
	start := time.Now()
	_, err := s.Next(100 * time.Millisecond)
	if !errors.Is(err, os.ErrDeadlineExceeded) || !strings.Contains(err.Error(), "within 100ms") {
		t.Fatalf("%v, want a timeout error", err)
	}
	if time.Since(start) < 100*time.Millisecond {
		t.Fatal("returned before the deadline")
	}
}

// Over a unix socket, and an answer that is not a stream.
func TestStreamUnixRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	serveOnce(t, l, "HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nno such\r\n", true, nil)
	_, err = Subscribe(Request{Network: "unix", Addr: path, Target: "/nope"})
	if err == nil || !strings.Contains(err.Error(), "404 Not Found") || !strings.Contains(err.Error(), "no such") {
		t.Fatalf("%v, want an error quoting the 404 and its body", err)
	}
}

// From a given source address; through a chunked answer (a proxy's).
func TestStreamLocalChunked(t *testing.T) {
	l := listenTCP(t)
	from := make(chan string, 1)
	chunked := "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n" +
		"4\r\nid: \r\n" + "b\r\n5\ndata: x\n\n\r\n"
	serveOnce(t, l, chunked, false, func(c net.Conn, _ string) { from <- c.RemoteAddr().(*net.TCPAddr).IP.String() })
	s := MustSubscribe(t, Request{Addr: l.Addr().String(), Target: "/events", Local: "127.0.0.5"})
	if ip := <-from; ip != "127.0.0.5" {
		t.Errorf("connected from %s, want 127.0.0.5", ip)
	}
	if f := s.MustEvent(t); f.ID != "5" || f.Data != "x" || f.Raw != "id: 5\ndata: x\n" {
		t.Fatalf("%+v", f)
	}
}

// The HTTP publisher sends the channel and event in the query and the
// data as the body, and returns the id; a refusal is an error quoting it.
func TestPublisher(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pub.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		q := r.URL.Query()
		if r.Method != "POST" || r.URL.Path != "/publish" || q.Get("channel") != "news" {
			http.Error(w, "invalid channel name", 400)
			return
		}
		io.WriteString(w, "4"+q.Get("event")+string(b)+"\n")
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	p := NewPublisher(path)
	defer p.Close()
	if id, err := p.Publish("news", "2", "2"); err != nil || id != 422 {
		t.Fatalf("Publish: %d %v, want 422", id, err)
	}
	if _, err := p.Publish("bad name", "", "x"); err == nil || !strings.Contains(err.Error(), "400") || !strings.Contains(err.Error(), "invalid channel name") {
		t.Fatalf("refused publish: %v", err)
	}
}

// The line protocol: PUB with the byte count, and the +OK id reply.
func TestPublishLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pub.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan string, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			done <- err.Error()
			return
		}
		defer c.Close()
		want := "PUB news headline 5\r\nhe\nlo\r\n"
		b := make([]byte, len(want))
		_, err = io.ReadFull(c, b)
		io.WriteString(c, "+OK 77\r\n")
		done <- string(b)
	}()
	t.Cleanup(func() { l.Close() })
	id, err := PublishLine(path, "news", "headline", "he\nlo")
	if got := <-done; got != "PUB news headline 5\r\nhe\nlo\r\n" {
		t.Errorf("sent %q", got)
	}
	if err != nil || id != 77 {
		t.Fatalf("PublishLine: %d %v, want 77", id, err)
	}
}

func TestLogWait(t *testing.T) {
	pr, pw := io.Pipe()
	var l Log
	go l.Follow(pr)
	go func() {
		io.WriteString(pw, "starting\n{\"msg\":\"subscribe\",\"client\":\"a\"}\n")
		io.WriteString(pw, "{\"msg\":\"subscribe\",\"client\":\"b\"}\n")
		pw.Close()
	}()
	l.Wait(t, 5*time.Second, 2, `"msg":"subscribe"`)
	WaitFor(t, 5*time.Second, "the end of the log", l.Ended)
	if n := l.Count("subscribe", `"a"`); n != 1 {
		t.Errorf("Count: %d, want 1", n)
	}
	if l.String() != "starting\n{\"msg\":\"subscribe\",\"client\":\"a\"}\n{\"msg\":\"subscribe\",\"client\":\"b\"}\n" {
		t.Errorf("String: %q", l.String())
	}
}

func TestBuild(t *testing.T) {
	NeedTool(t, "go")
	bin := Build(t, "./testdata/hello")
	if again := Build(t, "./testdata/hello"); again != bin {
		t.Errorf("second Build %q, want the cached %q", again, bin)
	}
	out, err := exec.Command(bin).CombinedOutput()
	if err != nil || string(out) != "hello from a built binary\n" {
		t.Fatalf("%s: %v %q", bin, err, out)
	}
}

func TestMain(m *testing.M) { Main(m) }
