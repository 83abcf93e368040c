package pubsub

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/cloudwego/netpoll"

	"github.com/ssedge/ssedge/httpmin"
)

// discardLimit is the largest refused body the server reads and drops to
// keep a keep-alive connection usable; a larger one closes it.
const discardLimit = 64 << 20

// serveHTTP handles one HTTP request from a publisher.
func (in *Ingest) serveHTTP(ic *ingestConn, r netpoll.Reader, w netpoll.Writer) error {
	buf, err := peekUpTo(r, httpmin.MaxHeaderBytes+1)
	if err != nil {
		return err
	}
	head := 0
	for {
		n, perr := httpmin.Parse(buf, &ic.req)
		if perr == nil {
			head = n
			break
		}
		if perr != httpmin.ErrNeedMore {
			in.refused.Add(1)
			return in.replyError(ic, w, httpmin.StatusOf(perr), perr.Error(), false, "")
		}
		if buf, err = waitMore(r, w, len(buf), httpmin.MaxHeaderBytes+1); err != nil {
			return err
		}
	}
	req := &ic.req
	keep := req.KeepAlive
	if req.Chunked {
		in.refused.Add(1)
		return in.replyError(ic, w, 411, "chunked request bodies are not supported: send the event with a Content-Length", false, "")
	}
	size := int(max(req.ContentLength, 0))
	status, reason, allow := in.route(ic, req)
	if status == 0 && size > in.hub.maxData {
		status, reason = 413, fmt.Sprintf("%v: %d bytes, the limit is %d", ErrEventTooLarge, size, in.hub.maxData)
	}
	expect := false
	if e := req.Header("Expect"); e != nil {
		if !strings.EqualFold(string(e), "100-continue") {
			in.refused.Add(1)
			return in.replyError(ic, w, 417, fmt.Sprintf("unsupported expectation %q: only 100-continue is understood", e), false, "")
		}
		expect = true
	}
	if err := r.Skip(head); err != nil {
		return err
	}
	if status != 0 {
		in.refused.Add(1)
		if expect || size > discardLimit {
			// The client has not sent (or we will not read) the body.
			return in.replyError(ic, w, status, reason, false, allow)
		}
		if err := discard(r, w, size); err != nil {
			return err
		}
		return in.replyError(ic, w, status, reason, keep, allow)
	}
	if expect && size > 0 {
		w.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
	}
	var data []byte
	if size > 0 {
		if data, err = need(r, w, size); err != nil {
			return err
		}
	}
	id, perr := in.publish(ic.chan_, ic.event, data)
	if err := r.Skip(size); err != nil {
		return err
	}
	if perr != nil {
		return in.replyError(ic, w, publishStatus(perr), perr.Error(), keep, "")
	}
	var idb [20]byte
	body := append(strconv.AppendUint(idb[:0], id, 10), '\n')
	ic.out = append(ic.out[:0], "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: "...)
	ic.out = strconv.AppendInt(ic.out, int64(len(body)), 10)
	if !keep {
		ic.out = append(ic.out, "\r\nConnection: close"...)
	}
	ic.out = append(ic.out, "\r\n\r\n"...)
	ic.out = append(ic.out, body...)
	if err := reply(w, ic.out); err != nil {
		return err
	}
	if !keep {
		return errHangUp
	}
	return nil
}

// route checks the method, path and query of a publish and decodes its
// channel and event name into ic. It returns a refusal status and reason,
// or 0.
func (in *Ingest) route(ic *ingestConn, req *httpmin.Request) (int, string, string) {
	if string(req.Path) != "/publish" {
		return 404, fmt.Sprintf("no such endpoint %q: publish with POST /publish?channel=NAME", req.Path), ""
	}
	if req.Method != httpmin.MethodPOST {
		return 405, fmt.Sprintf("method %q not allowed on /publish: use POST", req.MethodName), "POST"
	}
	ic.chan_, ic.event = ic.chan_[:0], ic.event[:0]
	channels := 0
	for q := req.RawQuery; len(q) > 0; {
		var k, v []byte
		var err error
		k, v, q = httpmin.NextParam(q)
		switch string(k) {
		case "channel":
			channels++
			ic.chan_, err = httpmin.Unescape(ic.chan_[:0], v)
		case "event":
			ic.event, err = httpmin.Unescape(ic.event[:0], v)
		}
		if err != nil {
			return 400, fmt.Sprintf("query parameter %s=%q: %v", k, v, err), ""
		}
	}
	switch {
	case channels == 0:
		return 400, ErrNoChannel.Error() + ": publish with POST /publish?channel=NAME", ""
	case channels > 1:
		return 400, "one channel per publish: give channel= once", ""
	}
	return 0, "", ""
}

func (in *Ingest) replyError(ic *ingestConn, w netpoll.Writer, status int, reason string, keep bool, allow string) error {
	in.noteRefusal(reason)
	ic.out = httpmin.AppendError(ic.out[:0], status, reason, keep, allow)
	if err := reply(w, ic.out); err != nil {
		return err
	}
	if !keep {
		return errHangUp
	}
	return nil
}

// publishStatus maps a Publish error to an HTTP status.
func publishStatus(err error) int {
	switch {
	case errors.Is(err, ErrEventTooLarge):
		return 413
	case errors.Is(err, ErrClosed):
		return 503
	}
	return 400
}
