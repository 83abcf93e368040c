package main

import (
	"bufio"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

// forwarder carries the publishes that waited through an upgrade to the
// new process, over the publish socket it now serves (the line
// protocol, one connection, one command at a time): their publishers get
// an id after a short wait instead of a refusal.
type forwarder struct {
	path string
	mu   sync.Mutex // guards c and br: one command in flight
	c    net.Conn
	br   *bufio.Reader
}

// forwardTimeout bounds one forwarded publish.
const forwardTimeout = 10 * time.Second

func (f *forwarder) publish(channel, name, data []byte) (uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id, err := f.exchange(channel, name, data)
	if err != nil && f.c != nil {
		f.c.Close()
		f.c = nil
	}
	return id, err
}

func (f *forwarder) exchange(channel, name, data []byte) (uint64, error) {
	if f.c == nil {
		c, err := net.DialTimeout("unix", f.path, forwardTimeout)
		if err != nil {
			return 0, fmt.Errorf("%w (forwarding to the new process: %v)", errUpgraded, err)
		}
		f.c, f.br = c, bufio.NewReader(c)
	}
	f.c.SetDeadline(time.Now().Add(forwardTimeout))
	head := "PUB " + string(channel)
	if len(name) > 0 {
		head += " " + string(name)
	}
	cmd := make([]byte, 0, len(head)+len(data)+16)
	cmd = append(append(append(cmd, head...), ' '), strconv.Itoa(len(data))...)
	cmd = append(append(append(cmd, "\r\n"...), data...), "\r\n"...)
	if _, err := f.c.Write(cmd); err != nil {
		// Not all of the command went out: the new process parses none of
		// it, so it was not published.
		return 0, fmt.Errorf("%w (forwarding to the new process: %v)", errUpgraded, err)
	}
	line, err := f.br.ReadString('\n')
	if err != nil {
		// The whole command went out: the new process may have published
		// it before the answer was lost.
		return 0, fmt.Errorf("%w (%v)", errForwardUnknown, err)
	}
	line = strings.TrimRight(line, "\r\n")
	if rest, ok := strings.CutPrefix(line, "+OK "); ok {
		if id, err := strconv.ParseUint(rest, 10, 64); err == nil {
			return id, nil
		}
	}
	// The new process refused it: the publisher sends it again and gets
	// the refusal from there, as it is.
	return 0, fmt.Errorf("%w (the new process answered %q)", errUpgraded, line)
}
