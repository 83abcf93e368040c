package httpmin

import (
	"errors"
	"strings"
	"testing"
)

// summary is the comparable view of a parsed Request used by the tables.
type summary struct {
	Method        Method
	MethodName    string
	Target        string
	Path          string
	RawQuery      string
	Minor         int
	Host          string
	HasHost       bool
	ContentLength int64
	Chunked       bool
	KeepAlive     bool
	LastEventID   string
	Origin        string
	NumHeaders    int
}

func summarize(r *Request) summary {
	return summary{
		Method: r.Method, MethodName: string(r.MethodName),
		Target: string(r.Target), Path: string(r.Path), RawQuery: string(r.RawQuery),
		Minor: r.Minor, Host: string(r.Host), HasHost: r.Host != nil,
		ContentLength: r.ContentLength, Chunked: r.Chunked, KeepAlive: r.KeepAlive,
		LastEventID: string(r.LastEventID), Origin: string(r.Origin),
		NumHeaders: r.NumHeaders,
	}
}

// get returns the summary of "GET target HTTP/1.1" with one Host header,
// for tables to adjust.
func get(target string) summary {
	path, query, _ := strings.Cut(target, "?")
	return summary{
		Method: MethodGET, MethodName: "GET", Target: target, Path: path, RawQuery: query,
		Minor: 1, Host: "example.com", HasHost: true, ContentLength: -1,
		KeepAlive: true, NumHeaders: 1,
	}
}

type goodCase struct {
	name string
	in   string
	n    int // head length; 0 means all of in
	want summary
}

var goodCases = []goodCase{
	{name: "browser-raw query bytes",
		in:   "GET /events?channel=a|b&x={}[]^\\` HTTP/1.1\r\nHost: example.com\r\n\r\n",
		want: get("/events?channel=a|b&x={}[]^\\`")},
	{name: "events two channels",
		in:   "GET /events?channel=a&channel=b HTTP/1.1\r\nHost: example.com\r\n\r\n",
		want: get("/events?channel=a&channel=b")},
	{name: "HTTP/1.0 without Host",
		in: "GET /events?channel=a HTTP/1.0\r\n\r\n",
		want: func() summary {
			s := get("/events?channel=a")
			s.Minor, s.Host, s.HasHost, s.KeepAlive, s.NumHeaders = 0, "", false, false, 0
			return s
		}()},
	{name: "HTTP/1.0 keep-alive",
		in: "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
		want: func() summary {
			s := get("/")
			s.Minor, s.Host, s.HasHost = 0, "", false
			return s
		}()},
	{name: "HTTP/1.1 close in list",
		in: "GET / HTTP/1.1\r\nHost: example.com\r\nConnection: upgrade ,  CLOSE\r\n\r\n",
		want: func() summary {
			s := get("/")
			s.KeepAlive, s.NumHeaders = false, 2
			return s
		}()},
	{name: "close wins over keep-alive across headers",
		in: "GET / HTTP/1.1\r\nConnection: keep-alive\r\nHost: example.com\r\nConnection: close\r\n\r\n",
		want: func() summary {
			s := get("/")
			s.KeepAlive, s.NumHeaders = false, 3
			return s
		}()},
	{name: "post with body",
		in: "POST /publish?channel=news&event=update HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
		n:  len("POST /publish?channel=news&event=update HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n"),
		want: func() summary {
			s := get("/publish?channel=news&event=update")
			s.Method, s.MethodName, s.Host, s.ContentLength, s.NumHeaders = MethodPOST, "POST", "x", 5, 2
			return s
		}()},
	{name: "case-insensitive names and OWS trimmed",
		in: "GET /e HTTP/1.1\r\nhOsT:\t example.com \t\r\nLAST-EVENT-ID:  42 \r\norigin:https://a.example\r\ncontent-LENGTH: 0\r\n\r\n",
		want: func() summary {
			s := get("/e")
			s.LastEventID, s.Origin, s.ContentLength, s.NumHeaders = "42", "https://a.example", 0, 4
			return s
		}()},
	{name: "empty Host and empty values",
		in: "GET / HTTP/1.1\r\nHost:\r\nX-Empty: \r\n\r\n",
		want: func() summary {
			s := get("/")
			s.Host, s.NumHeaders = "", 2
			return s
		}()},
	{name: "pipelined",
		in:   "GET /a HTTP/1.1\r\nHost: example.com\r\n\r\nGET /b HTTP/1.1\r\nHost: example.com\r\n\r\n",
		n:    len("GET /a HTTP/1.1\r\nHost: example.com\r\n\r\n"),
		want: get("/a")},
	{name: "chunked post",
		in: "POST /publish HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: Chunked\r\n\r\n",
		want: func() summary {
			s := get("/publish")
			s.Method, s.MethodName, s.Chunked, s.NumHeaders = MethodPOST, "POST", true, 2
			return s
		}()},
	{name: "OPTIONS asterisk",
		in: "OPTIONS * HTTP/1.1\r\nHost: example.com\r\n\r\n",
		want: func() summary {
			s := get("*")
			s.Method, s.MethodName, s.Path = MethodOPTIONS, "OPTIONS", "*"
			return s
		}()},
	{name: "HEAD with escapes, obs-text and port",
		in: "HEAD /ev%2Fents?x=%C3%A9+y&z HTTP/1.1\r\nHost: [::1]:8080\r\nX-Name: caf\xc3\xa9\r\n\r\n",
		want: func() summary {
			s := get("/ev%2Fents?x=%C3%A9+y&z")
			s.Method, s.MethodName, s.Host, s.NumHeaders = MethodHEAD, "HEAD", "[::1]:8080", 2
			return s
		}()},
	{name: "standard method not served",
		in: "DELETE /events HTTP/1.1\r\nHost: example.com\r\n\r\n",
		want: func() summary {
			s := get("/events")
			s.Method, s.MethodName = MethodOther, "DELETE"
			return s
		}()},
	{name: "odd but valid target",
		in:   "GET //a/../b;c=d?x=@:/?&y=!$'()*,~ HTTP/1.1\r\nHost: example.com\r\n\r\n",
		want: get("//a/../b;c=d?x=@:/?&y=!$'()*,~")},
	{name: "CONNECT with a path",
		in: "CONNECT /rpc HTTP/1.1\r\nHost: example.com\r\n\r\n",
		want: func() summary {
			s := get("/rpc")
			s.Method, s.MethodName = MethodOther, "CONNECT"
			return s
		}()},
	{name: "empty query after ?",
		in:   "GET /events? HTTP/1.1\r\nHost: example.com\r\n\r\n",
		want: get("/events?")},
	{name: "largest Content-Length",
		in: "POST /p HTTP/1.1\r\nHost: example.com\r\nContent-Length: 9007199254740992\r\n\r\n",
		want: func() summary {
			s := get("/p")
			s.Method, s.MethodName, s.ContentLength, s.NumHeaders = MethodPOST, "POST", 1<<53, 2
			return s
		}()},
	{name: "request line at limit",
		in:   "GET /" + strings.Repeat("a", MaxRequestLine-len("GET / HTTP/1.1\r\n")) + " HTTP/1.1\r\nHost: example.com\r\n\r\n",
		want: get("/" + strings.Repeat("a", MaxRequestLine-len("GET / HTTP/1.1\r\n")))},
	{name: "headers at count limit",
		in: "GET / HTTP/1.1\r\nHost: example.com\r\n" + strings.Repeat("X: y\r\n", MaxHeaders-1) + "\r\n",
		want: func() summary {
			s := get("/")
			s.NumHeaders = MaxHeaders
			return s
		}()},
	{name: "head at size limit",
		in: fillHead(MaxHeaderBytes),
		want: func() summary {
			s := get("/")
			s.NumHeaders = 3
			return s
		}()},
}

// fillHead returns a valid GET head of exactly size bytes.
func fillHead(size int) string {
	const head = "GET / HTTP/1.1\r\nHost: example.com\r\n"
	pad := size - len(head) - 2*len("X: \r\n") - 2
	return head + "X: " + strings.Repeat("a", pad/2) + "\r\nX: " + strings.Repeat("b", pad-pad/2) + "\r\n\r\n"
}

type badCase struct {
	name   string
	in     string
	err    error
	status int
}

const host = "Host: example.com\r\n"

var badCases = []badCase{
	{"lower-case method", "get / HTTP/1.1\r\n" + host + "\r\n", ErrUnknownMethod, 501},
	{"unknown method", "BREW / HTTP/1.1\r\n" + host + "\r\n", ErrUnknownMethod, 501},
	{"empty method", " / HTTP/1.1\r\n" + host + "\r\n", ErrBadRequestLine, 400},
	{"leading empty line", "\r\nGET / HTTP/1.1\r\n" + host + "\r\n", ErrBadRequestLine, 400},
	{"double space", "GET  / HTTP/1.1\r\n" + host + "\r\n", ErrBadTarget, 400},
	{"tab separator", "GET\t/ HTTP/1.1\r\n" + host + "\r\n", ErrBadRequestLine, 400},
	{"HTTP/0.9 line", "GET /\r\n\r\n", ErrBadRequestLine, 400},
	{"absolute-form", "GET http://example.com/ HTTP/1.1\r\n" + host + "\r\n", ErrBadTarget, 400},
	{"authority-form", "CONNECT example.com:443 HTTP/1.1\r\n" + host + "\r\n", ErrBadTarget, 400},
	{"asterisk on GET", "GET * HTTP/1.1\r\n" + host + "\r\n", ErrBadTarget, 400},
	{"empty target", "GET  HTTP/1.1\r\n" + host + "\r\n", ErrBadTarget, 400},
	{"fragment", "GET /a#b HTTP/1.1\r\n" + host + "\r\n", ErrBadTarget, 400},
	{"raw non-ASCII target", "GET /caf\xc3\xa9 HTTP/1.1\r\n" + host + "\r\n", ErrBadTarget, 400},
	{"quote in target", "GET /?a=\"x\" HTTP/1.1\r\n" + host + "\r\n", ErrBadTarget, 400},
	{"angle in target", "GET /?a=<x> HTTP/1.1\r\n" + host + "\r\n", ErrBadTarget, 400},
	{"NUL in target", "GET /\x00 HTTP/1.1\r\n" + host + "\r\n", ErrBadTarget, 400},
	{"bad escape", "GET /%zz HTTP/1.1\r\n" + host + "\r\n", ErrBadTarget, 400},
	{"short escape", "GET /%a HTTP/1.1\r\n" + host + "\r\n", ErrBadTarget, 400},
	{"lower-case version", "GET / http/1.1\r\n" + host + "\r\n", ErrBadVersion, 400},
	{"HTTP/1.x", "GET / HTTP/1.x\r\n" + host + "\r\n", ErrBadVersion, 400},
	{"HTTP/1.10", "GET / HTTP/1.10\r\n" + host + "\r\n", ErrBadVersion, 400},
	{"HTTP/2", "GET / HTTP/2\r\n" + host + "\r\n", ErrBadVersion, 400},
	{"trailing space", "GET / HTTP/1.1 \r\n" + host + "\r\n", ErrBadVersion, 400},
	{"HTTP/2.0", "GET / HTTP/2.0\r\n" + host + "\r\n", ErrVersionNotSupported, 505},
	{"HTTP/1.2", "GET / HTTP/1.2\r\n" + host + "\r\n", ErrVersionNotSupported, 505},
	{"HTTP/0.9", "GET / HTTP/0.9\r\n\r\n", ErrVersionNotSupported, 505},
	{"bare LF request line", "GET / HTTP/1.1\n" + host + "\r\n", ErrBareLF, 400},
	{"bare CR request line", "GET / HTTP/1.1\rHost: x\r\n\r\n", ErrBareCR, 400},
	{"bare LF header", "GET / HTTP/1.1\r\nHost: x\n\r\n", ErrBareLF, 400},
	{"bare LF end", "GET / HTTP/1.1\r\nHost: x\r\n\n", ErrBareLF, 400},
	{"bare CR in value", "GET / HTTP/1.1\r\nHost: x\rX: y\r\n\r\n", ErrBareCR, 400},
	{"bare CR end", "GET / HTTP/1.1\r\nHost: x\r\n\rX", ErrBareCR, 400},
	{"NUL in value", "GET / HTTP/1.1\r\nHost: x\r\nX: a\x00b\r\n\r\n", ErrControlChar, 400},
	{"DEL in value", "GET / HTTP/1.1\r\nHost: x\r\nX: a\x7fb\r\n\r\n", ErrControlChar, 400},
	{"obs-fold", "GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n", ErrObsFold, 400},
	{"space before first header", "GET / HTTP/1.1\r\n Host: x\r\n\r\n", ErrObsFold, 400},
	{"space before colon", "GET / HTTP/1.1\r\nHost : x\r\n\r\n", ErrSpaceBeforeColon, 400},
	{"no colon", "GET / HTTP/1.1\r\nHost: x\r\nNoColon\r\n\r\n", ErrBadHeader, 400},
	{"empty name", "GET / HTTP/1.1\r\nHost: x\r\n: v\r\n\r\n", ErrBadHeader, 400},
	{"non-token name", "GET / HTTP/1.1\r\nHost: x\r\nX(y): v\r\n\r\n", ErrBadHeader, 400},
	{"missing Host", "GET / HTTP/1.1\r\nX: y\r\n\r\n", ErrMissingHost, 400},
	{"two Hosts", "GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n", ErrDuplicateHost, 400},
	{"bad Host", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", ErrBadHost, 400},
	{"Host with slash", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", ErrBadHost, 400},
	{"two Content-Lengths", "POST / HTTP/1.1\r\n" + host + "Content-Length: 1\r\nContent-Length: 1\r\n\r\nx", ErrDuplicateContentLength, 400},
	{"signed Content-Length", "POST / HTTP/1.1\r\n" + host + "Content-Length: +1\r\n\r\nx", ErrBadContentLength, 400},
	{"list Content-Length", "POST / HTTP/1.1\r\n" + host + "Content-Length: 1, 1\r\n\r\nx", ErrBadContentLength, 400},
	{"empty Content-Length", "POST / HTTP/1.1\r\n" + host + "Content-Length: \r\n\r\n", ErrBadContentLength, 400},
	{"huge Content-Length", "POST / HTTP/1.1\r\n" + host + "Content-Length: 9007199254740993\r\n\r\n", ErrBadContentLength, 400},
	{"overflowing Content-Length", "POST / HTTP/1.1\r\n" + host + "Content-Length: 99999999999999999999999\r\n\r\n", ErrBadContentLength, 400},
	{"TE then CL", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", ErrLengthAndChunked, 400},
	{"CL then TE", "POST / HTTP/1.1\r\n" + host + "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", ErrLengthAndChunked, 400},
	{"TE on HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", ErrChunkedHTTP10, 400},
	{"TE gzip", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: gzip, chunked\r\n\r\n", ErrUnsupportedTransferEncoding, 501},
	{"two TE", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", ErrUnsupportedTransferEncoding, 501},
	{"two Last-Event-IDs", "GET / HTTP/1.1\r\n" + host + "Last-Event-ID: 1\r\nLast-Event-ID: 2\r\n\r\n", ErrDuplicateLastEventID, 400},
	{"two Origins", "GET / HTTP/1.1\r\n" + host + "Origin: a\r\nOrigin: b\r\n\r\n", ErrDuplicateOrigin, 400},
	{"request line too long", "GET /" + strings.Repeat("a", MaxRequestLine) + " HTTP/1.1\r\n" + host + "\r\n", ErrRequestLineTooLong, 414},
	{"request line one too long", "GET /" + strings.Repeat("a", MaxRequestLine-len("GET / HTTP/1.1\r\n")+1) + " HTTP/1.1\r\n" + host + "\r\n", ErrRequestLineTooLong, 414},
	{"too many headers", "GET / HTTP/1.1\r\n" + host + strings.Repeat("X: y\r\n", MaxHeaders) + "\r\n", ErrTooManyHeaders, 431},
	{"head one too large", fillHead(MaxHeaderBytes + 1), ErrHeadTooLarge, 431},
	{"endless header", "GET / HTTP/1.1\r\n" + host + "X: " + strings.Repeat("a", MaxHeaderBytes), ErrHeadTooLarge, 431},
}

func TestParseGood(t *testing.T) {
	var r Request
	for _, tc := range goodCases {
		t.Run(tc.name, func(t *testing.T) {
			n, err := Parse([]byte(tc.in), &r)
			if err != nil {
				t.Fatalf("Parse(%q) error %v", tc.in, err)
			}
			wantN := tc.n
			if wantN == 0 {
				wantN = len(tc.in)
			}
			if n != wantN {
				t.Errorf("n = %d, want %d", n, wantN)
			}
			if got := summarize(&r); got != tc.want {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestParseBad(t *testing.T) {
	var r Request
	for _, tc := range badCases {
		t.Run(tc.name, func(t *testing.T) {
			n, err := Parse([]byte(tc.in), &r)
			if n != 0 || !errors.Is(err, tc.err) {
				t.Fatalf("Parse(%.80q) = %d, %v; want 0, %v", tc.in, n, err, tc.err)
			}
			if got := StatusOf(err); got != tc.status {
				t.Errorf("StatusOf(%v) = %d, want %d", err, got, tc.status)
			}
		})
	}
}

// TestParseByteAtATime feeds every table input one byte at a time: a good
// head needs more bytes until its last byte and then parses the same as a
// whole; a bad one never succeeds and fails only with its own error.
func TestParseByteAtATime(t *testing.T) {
	var r Request
	for _, tc := range goodCases {
		n, _ := Parse([]byte(tc.in), &r)
		want := summarize(&r)
		for k := 0; k <= len(tc.in); k++ {
			gotN, err := Parse([]byte(tc.in[:k]), &r)
			switch {
			case k < n && (gotN != 0 || err != ErrNeedMore):
				t.Fatalf("%s: prefix %d of %d: %d, %v; want ErrNeedMore", tc.name, k, n, gotN, err)
			case k >= n && (gotN != n || err != nil || summarize(&r) != want):
				t.Fatalf("%s: prefix %d: %d, %v, %+v; want %d, %+v", tc.name, k, gotN, err, summarize(&r), n, want)
			}
		}
	}
	for _, tc := range badCases {
		for k := 0; k <= len(tc.in); k++ {
			n, err := Parse([]byte(tc.in[:k]), &r)
			if n != 0 || err != ErrNeedMore && err != tc.err {
				t.Fatalf("%s: prefix %d: %d, %v; want ErrNeedMore or %v", tc.name, k, n, err, tc.err)
			}
		}
	}
}

func TestRequestHeader(t *testing.T) {
	var r Request
	in := "GET / HTTP/1.1\r\nHost: example.com\r\nCookie: a=1\r\nX-Forwarded-For: 10.0.0.1\r\ncookie: b=2\r\n\r\n"
	if _, err := Parse([]byte(in), &r); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"cookie": "a=1", "X-FORWARDED-FOR": "10.0.0.1", "host": "example.com"} {
		if got := r.Header(name); string(got) != want {
			t.Errorf("Header(%q) = %q, want %q", name, got, want)
		}
	}
	if got := r.Header("Authorization"); got != nil {
		t.Errorf("Header(Authorization) = %q, want nil", got)
	}
}

// TestParseResets checks that a Request reused after a bigger request holds
// nothing of it.
func TestParseResets(t *testing.T) {
	var r Request
	big := "POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nOrigin: o\r\nLast-Event-ID: 9\r\nX: 1\r\n\r\n"
	if _, err := Parse([]byte(big), &r); err != nil {
		t.Fatal(err)
	}
	small := "GET / HTTP/1.0\r\n\r\n"
	if _, err := Parse([]byte(small), &r); err != nil {
		t.Fatal(err)
	}
	var fresh Request
	if _, err := Parse([]byte(small), &fresh); err != nil {
		t.Fatal(err)
	}
	if summarize(&r) != summarize(&fresh) {
		t.Errorf("reused Request differs from a fresh one:\n%+v\n%+v", summarize(&r), summarize(&fresh))
	}
	for i, h := range r.Headers {
		if h.Name != nil || h.Value != nil {
			t.Errorf("Headers[%d] = %q: %q still set", i, h.Name, h.Value)
		}
	}
}

func TestMethodString(t *testing.T) {
	for m, want := range map[Method]string{MethodGET: "GET", MethodHEAD: "HEAD", MethodPOST: "POST", MethodOPTIONS: "OPTIONS", MethodOther: "other", methodNone: ""} {
		if got := m.String(); got != want {
			t.Errorf("Method(%d).String() = %q, want %q", m, got, want)
		}
	}
}

func BenchmarkParse(b *testing.B) {
	buf := []byte("GET /events?channel=news&channel=user-42 HTTP/1.1\r\n" +
		"Host: rt.example.com\r\n" +
		"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36\r\n" +
		"Accept: text/event-stream\r\n" +
		"Cache-Control: no-cache\r\n" +
		"Last-Event-ID: 1732355000123\r\n" +
		"Origin: https://www.example.com\r\n" +
		"X-Forwarded-For: 203.0.113.7\r\n" +
		"Connection: keep-alive\r\n\r\n")
	var r Request
	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		if _, err := Parse(buf, &r); err != nil {
			b.Fatal(err)
		}
	}
}
