package fdpass

import (
	"errors"
	"fmt"
	"os"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Descriptors in batches of MaxFDs arrive with their own message, in
// order, as the same open files; payloads keep their boundaries.
func TestSendRecvBatches(t *testing.T) {
	a, bf, err := Pair()
	if err != nil {
		t.Fatal(err)
	}
	b, err := fromFile(bf)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	defer a.Close() // after the sender is done (the deferred wait below runs first)
	var fds []int
	var inos []uint64
	for range 300 {
		f, err := os.CreateTemp(t.TempDir(), "fd")
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		var st unix.Stat_t
		unix.Fstat(int(f.Fd()), &st)
		fds, inos = append(fds, int(f.Fd())), append(inos, st.Ino)
	}
	sent := make(chan struct{})
	defer func() { <-sent }()
	go func() {
		defer close(sent)
		a.Send('F', []byte("first"), fds[:MaxFDs])
		a.Send('F', []byte("second"), fds[MaxFDs:])
		a.Send('E', make([]byte, MaxPayload), nil)
	}()
	var got []int
	for _, want := range []string{"first", "second"} {
		m, err := b.Recv(10 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if m.Kind != 'F' || string(m.Payload) != want {
			t.Fatalf("message %q %q, want F %q", m.Kind, m.Payload, want)
		}
		got = append(got, m.FDs...)
	}
	if len(got) != len(fds) {
		t.Fatalf("%d descriptors, want %d", len(got), len(fds))
	}
	for i, fd := range got {
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil || st.Ino != inos[i] {
			t.Fatalf("descriptor %d: inode %d (%v), want %d", i, st.Ino, err, inos[i])
		}
	}
	CloseFDs(got)
	m, err := b.Recv(10 * time.Second)
	if err != nil || m.Kind != 'E' || len(m.Payload) != MaxPayload {
		t.Fatalf("the largest message: %v, %d bytes", err, len(m.Payload))
	}
}

func TestLimitsAndEnds(t *testing.T) {
	a, bf, err := Pair()
	if err != nil {
		t.Fatal(err)
	}
	b, err := fromFile(bf)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := a.Send('P', make([]byte, MaxPayload+1), nil); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("an oversized payload: %v, want ErrTooLarge", err)
	}
	if err := a.Send('F', nil, make([]int, MaxFDs+1)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("too many descriptors: %v, want ErrTooLarge", err)
	}
	if _, err := b.Recv(50 * time.Millisecond); err == nil {
		t.Fatal("a receive with nothing sent returned a message") // 50 ms of real time passes: the timeout under test
	}
	a.Close()
	if _, err := b.Recv(10 * time.Second); !errors.Is(err, ErrClosed) {
		t.Fatalf("after the peer closed: %v, want ErrClosed", err)
	}
	if _, err := FromFD(int(os.Stdin.Fd())); err == nil && !isSocket(int(os.Stdin.Fd())) {
		t.Fatal("FromFD took a descriptor that is not a socket")
	}
}

func isSocket(fd int) bool {
	var st unix.Stat_t
	return unix.Fstat(fd, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFSOCK
}

// A peer that stops reading: sends fill its queue, and past the send
// deadline Send fails with ErrTimeout instead of waiting for ever.
func TestSendDeadline(t *testing.T) {
	a, bf, err := Pair()
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	defer bf.Close() // open, never read
	a.SetSendDeadline(time.Now().Add(200 * time.Millisecond))
	payload := make([]byte, MaxPayload)
	for i := 0; ; i++ {
		err := a.Send('P', payload, nil)
		if errors.Is(err, ErrTimeout) {
			break
		}
		if err != nil {
			t.Fatalf("send %d: %v, want ErrTimeout once the queue is full", i, err)
		}
		if i > 1<<14 {
			t.Fatal("1 GiB sent to a peer that reads nothing")
		}
	}
	a.SetSendDeadline(time.Now().Add(-time.Second))
	if err := a.Send('P', nil, nil); !errors.Is(err, ErrTimeout) {
		t.Fatalf("past the deadline: %v, want ErrTimeout", err)
	}
}

// The descriptors of a control-message buffer are all found, even when a
// later message in it does not parse: none is left open and unknown.
func TestRightsMalformed(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	oob := unix.UnixRights(int(r.Fd()), int(w.Fd()))
	bad := make([]byte, unix.CmsgSpace(4))
	h := (*unix.Cmsghdr)(unsafe.Pointer(&bad[0]))
	h.Level, h.Type = unix.SOL_SOCKET, unix.SCM_RIGHTS
	h.SetLen(len(bad) + 64) // longer than what is there
	fds := rights(append(oob, bad...))
	if len(fds) != 2 || fds[0] != int(r.Fd()) || fds[1] != int(w.Fd()) {
		t.Fatalf("rights found %v, want [%d %d]", fds, r.Fd(), w.Fd())
	}
	if _, err := unix.ParseSocketControlMessage(append(oob, bad...)); err == nil {
		t.Fatal("the malformed buffer parses: the test proves nothing")
	}
}

// An abstract name: Dial reaches Listen's Accept (the same user on both
// sides), a descriptor goes through, Close frees the name (a second Close
// does nothing: it must not close a descriptor that took its number), and
// a Dial with nobody listening fails at once.
func TestListenDial(t *testing.T) {
	name := "ssedge-fdpass-test/" + t.Name() + "/" + time.Now().Format("150405.000000000")
	ln, err := Listen(name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Listen(name); err == nil {
		t.Fatal("a second Listen on the name")
	}
	accepted := make(chan *Conn, 1)
	go func() {
		c, err := ln.Accept(5 * time.Second)
		if err != nil {
			t.Error(err)
		}
		accepted <- c
	}()
	c, err := Dial(name)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s := <-accepted
	if s == nil {
		t.FailNow()
	}
	defer s.Close()
	f, err := os.CreateTemp(t.TempDir(), "fd")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := c.Send('x', []byte("hi"), []int{int(f.Fd())}); err != nil {
		t.Fatal(err)
	}
	m, err := s.Recv(5 * time.Second)
	if err != nil || m.Kind != 'x' || string(m.Payload) != "hi" || len(m.FDs) != 1 {
		t.Fatalf("got %+v, %v", m, err)
	}
	CloseFDs(m.FDs)
	ln.Close()
	other, err := os.Open(os.DevNull) // may take the listener's old number
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	ln.Close()
	if _, err := other.Stat(); err != nil {
		t.Fatalf("a second Close closed another descriptor: %v", err)
	}
	if _, err := Dial(name); err == nil {
		t.Fatal("Dial reached a closed listener")
	}
	if _, err := s.Recv(50 * time.Millisecond); !errors.Is(err, ErrTimeout) {
		t.Fatalf("Recv with nothing sent: %v, want a timeout", err)
	}
	// Recv(0) waits without a limit, even after a Recv that had one.
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		time.Sleep(300 * time.Millisecond) // longer than the earlier limit, not synchronisation
		c.Send('y', nil, nil)
	}()
	m, err = s.Recv(0)
	<-sent
	if err != nil || m.Kind != 'y' {
		t.Fatalf("Recv(0): %+v, %v", m, err)
	}
}

// fromFile is FromFD on the child's end of a Pair, taken out of its
// os.File: the File's finalizer would otherwise close the descriptor
// under the Conn when the File is collected.
func fromFile(f *os.File) (*Conn, error) {
	fd, err := unix.Dup(int(f.Fd()))
	f.Close()
	if err != nil {
		return nil, err
	}
	return FromFD(fd)
}

// AcceptWatching gives up at once when the watched connection's peer
// goes (the process that should be there while this one waits), and
// still accepts while it stays.
func TestAcceptWatching(t *testing.T) {
	name := fmt.Sprintf("ssedge-test-watch/%d", os.Getpid())
	ln, err := Listen(name)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	watch, peer, err := Pair()
	if err != nil {
		t.Fatal(err)
	}
	defer watch.Close()
	go func() {
		c, err := Dial(name)
		if err == nil {
			defer c.Close()
			time.Sleep(100 * time.Millisecond)
		}
	}()
	c, err := ln.AcceptWatching(5*time.Second, watch)
	if err != nil {
		t.Fatalf("with the watched peer there: %v", err)
	}
	c.Close()
	peer.Close()
	// Not ErrTimeout: the wait ends because the peer went.
	if _, err := ln.AcceptWatching(5*time.Second, watch); !errors.Is(err, ErrWatchEnded) {
		t.Fatalf("with the watched peer gone: %v, want ErrWatchEnded", err)
	}
}
