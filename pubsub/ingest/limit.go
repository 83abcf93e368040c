package ingest

import (
	"fmt"
	"io"
	"net"
	"time"

	"github.com/ssedge/ssedge/httpmin"
)

const (
	// maxRefusing bounds the connections over Config.MaxConns being
	// answered at once, each holding its descriptor for up to refuseWait;
	// past it one is closed unanswered. A flood of connections thus costs
	// at most this many descriptors beyond MaxConns.
	maxRefusing = 2
	// refuseWait is how long a connection over the limit may take to send
	// its first bytes, which say how to tell it (HTTP or line protocol).
	refuseWait = 500 * time.Millisecond
)

// overLimit refuses a connection accepted while MaxConns are open: it is
// told so in its protocol when it says which within refuseWait (refuse),
// and closed. Every such connection counts in Refused and is logged,
// rate-limited.
func (s *Server) overLimit(nc *net.UnixConn) {
	s.refused.Add(1)
	reason := fmt.Sprintf("too many publisher connections (%d open, the limit): retry later", s.cfg.MaxConns)
	if s.refusing.Add(1) > maxRefusing {
		s.refusing.Add(-1)
		s.noteRefusal(reason + "; closed unanswered, other refusals in progress")
		nc.Close()
		return
	}
	s.noteRefusal(reason)
	s.wg.Add(1)
	go s.refuse(nc, reason)
}

// refuse reads a refused connection's first bytes (up to 4, within
// refuseWait) and answers in its protocol: -ERR for the line protocol, 503
// with Retry-After for HTTP, nothing to a connection that sent nothing.
func (s *Server) refuse(nc *net.UnixConn, reason string) {
	defer s.wg.Done()
	var b [4]byte
	nc.SetReadDeadline(time.Now().Add(refuseWait))
	n, _ := io.ReadAtLeast(nc, b[:], len(b))
	var out []byte
	switch {
	case n == 4 && (string(b[:]) == "PUB " || string(b[:]) == "PING"):
		out = fmt.Appendf(nil, "-ERR %s\r\n", reason)
	case n > 0:
		out = httpmin.AppendError(nil, 503, reason, false, "")
	}
	if out != nil {
		nc.SetWriteDeadline(time.Now().Add(refuseWait))
		nc.Write(out)
		// Closing with the rest of the request unread would reset the
		// connection, and a client may then report the reset rather than
		// the answer: end the answer with EOF and read what the client
		// sends until it closes (or refuseWait passes).
		nc.CloseWrite()
		nc.SetReadDeadline(time.Now().Add(refuseWait))
		io.Copy(io.Discard, nc)
	}
	// The slot first, then the descriptor: once the client sees the close,
	// the next refusal can be answered.
	s.refusing.Add(-1)
	nc.Close()
}
