package poller

import (
	"fmt"
	"runtime"
)

// ErrNeedsLinux is returned by New on systems without epoll.
var ErrNeedsLinux = fmt.Errorf("poller: ssedge needs Linux (epoll, SO_REUSEPORT, eventfd); this build is for %s", runtime.GOOS)

// CloseReason says why the server closed a connection.
type CloseReason uint8

// Close reasons, counted per reason in Stats.Closed.
const (
	CloseNone          CloseReason = iota
	ClosePeer                      // the client closed its side (read returned 0)
	ClosePeerReset                 // ECONNRESET, EPIPE, EPOLLERR or EPOLLHUP
	CloseHeaderTimeout             // request head not complete within Config.HeaderTimeout
	CloseBadRequest                // refused request (4xx/5xx answered)
	CloseSlowConsumer              // backlog passed Config.MaxBacklogBytes or MaxBacklogFrames
	CloseDone                      // a non-stream response was sent in full
	CloseShutdown                  // the server is stopping
	CloseOverLimit                 // --max-conns or --max-conns-per-ip reached (503 / 429 answered)
	CloseTokenExpired              // the token that allowed a private channel expired
	CloseRevoked                   // a reload's rules no longer allow a channel of the stream (ssedge.revoked sent)
	CloseDrain                     // closed by a graceful drain (Server.Drain): a stream after its final retry frame, or a request refused with 503
	CloseUnavailable               // a resume needed events from the cluster's stream, which could not be read: the client reconnects and resumes
	closeReasons
)

var closeNames = [closeReasons]string{
	"none", "peer closed", "peer reset", "header timeout", "bad request",
	"slow consumer", "response done", "shutdown", "over limit", "token expired", "revoked",
	"drain", "log unavailable",
}

func (r CloseReason) String() string {
	if r < closeReasons {
		return closeNames[r]
	}
	return fmt.Sprintf("CloseReason(%d)", uint8(r))
}
