package httpmin

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestAppendError(t *testing.T) {
	tests := []struct {
		status    int
		reason    string
		keepAlive bool
		allow     string
		want      string
	}{
		{400, "httpmin: bare CR not followed by LF", false, "",
			"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 36\r\nConnection: close\r\n\r\nhttpmin: bare CR not followed by LF\n"},
		{405, "", true, "GET, HEAD, OPTIONS",
			"HTTP/1.1 405 Method Not Allowed\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 19\r\nConnection: keep-alive\r\nAllow: GET, HEAD, OPTIONS\r\n\r\nMethod Not Allowed\n"},
		{401, "auth: no token", true, "",
			"HTTP/1.1 401 Unauthorized\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 15\r\nConnection: keep-alive\r\nWWW-Authenticate: Bearer realm=\"ssedge\"\r\n\r\nauth: no token\n"},
		{404, "no such channel", true, "GET",
			"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 16\r\nConnection: keep-alive\r\n\r\nno such channel\n"},
	}
	for _, tc := range tests {
		got := string(AppendError([]byte("x"), tc.status, tc.reason, tc.keepAlive, tc.allow))
		if got != "x"+tc.want {
			t.Errorf("AppendError(%d, %q) =\n%q\nwant\n%q", tc.status, tc.reason, got, "x"+tc.want)
		}
	}
}

// TestStatusTextEveryAnswer: every status ssedge answers with (httpmin's
// refusals, the subscriber server's and the publish socket's) has a reason
// phrase, so no status line ends in a bare space.
func TestStatusTextEveryAnswer(t *testing.T) {
	for _, status := range []int{200, 204, 400, 401, 403, 404, 405, 408, 411, 413, 414, 417, 429, 431, 500, 501, 503, 505} {
		if StatusText(status) == "" {
			t.Errorf("StatusText(%d) is empty", status)
		}
	}
}

// TestAppendErrorReadable checks every status the package hands out against
// net/http's response reader.
func TestAppendErrorReadable(t *testing.T) {
	for _, tc := range badCases {
		status := StatusOf(tc.err)
		raw := AppendError(nil, status, tc.err.Error(), false, "")
		resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(raw)), nil)
		if err != nil {
			t.Fatalf("%d: %v", status, err)
		}
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != status || string(body) != tc.err.Error()+"\n" || !resp.Close {
			t.Errorf("%d: read back %d %q close=%v", status, resp.StatusCode, body, resp.Close)
		}
		if StatusText(status) == "" {
			t.Errorf("StatusText(%d) is empty", status)
		}
	}
}

func TestStatusOf(t *testing.T) {
	tests := []struct {
		err  error
		want int
	}{
		{nil, 0},
		{ErrNeedMore, 0},
		{ErrBadEscape, 400},
		{ErrRequestLineTooLong, 414},
		{ErrHeadTooLarge, 431},
		{ErrUnknownMethod, 501},
		{ErrVersionNotSupported, 505},
		{fmt.Errorf("subscribe %q: %w", "a%zz", ErrTooManyHeaders), 431},
		{errors.New("something else"), 400},
	}
	for _, tc := range tests {
		if got := StatusOf(tc.err); got != tc.want {
			t.Errorf("StatusOf(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
	if !strings.Contains(ErrRequestLineTooLong.Error(), "8192") || !strings.HasPrefix(ErrHeadTooLarge.Error(), "httpmin: header too large") {
		t.Errorf("limit errors do not name their limits: %v, %v", ErrRequestLineTooLong, ErrHeadTooLarge)
	}
}
