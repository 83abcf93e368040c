package httpmin

import (
	"bufio"
	"bytes"
	"net/http"
	"slices"
	"testing"
)

func addSeeds(f *testing.F, add func(in string)) {
	for _, tc := range goodCases {
		add(tc.in)
	}
	for _, tc := range badCases {
		add(tc.in)
	}
}

// FuzzParseSplit parses a prefix of the input, then the whole, and checks
// that incremental parsing cannot change the answer: a prefix shorter than
// the head needs more bytes, a longer one gives the same head, and a refusal
// seen in a prefix is the whole input's refusal too.
func FuzzParseSplit(f *testing.F) {
	addSeeds(f, func(in string) { f.Add([]byte(in), uint16(len(in)/2)) })
	f.Fuzz(func(t *testing.T, in []byte, split uint16) {
		k := int(split) % (len(in) + 1)
		var whole, part Request
		n, err := Parse(in, &whole)
		if n < 0 || n > len(in) || (err == nil) != (n > 0) {
			t.Fatalf("Parse(%q) = %d, %v", in, n, err)
		}
		if err != nil && err != ErrNeedMore && StatusOf(err) < 400 {
			t.Fatalf("Parse(%q) refused with %v, status %d", in, err, StatusOf(err))
		}
		pn, perr := Parse(in[:k], &part)
		switch {
		case err == nil && k < n:
			if perr != ErrNeedMore {
				t.Fatalf("prefix %d of head %d of %q: %d, %v; want ErrNeedMore", k, n, in, pn, perr)
			}
		case err == nil:
			if pn != n || perr != nil || summarize(&part) != summarize(&whole) {
				t.Fatalf("prefix %d of %q: %d, %v; whole: %d", k, in, pn, perr, n)
			}
		case perr != ErrNeedMore && (pn != 0 || perr != err):
			t.Fatalf("prefix %d of %q: %d, %v; whole: %d, %v", k, in, pn, perr, n, err)
		}
	})
}

// FuzzParseDifferential checks every head httpmin accepts against net/http's
// reader, which must accept it too and read the same thing. httpmin refusing
// what net/http accepts is by design; these differences are deliberate:
//
//   - bare LF line endings: net/http accepts, httpmin refuses (400);
//   - obs-fold: net/http unfolds, httpmin refuses (400);
//   - targets: net/http takes absolute-form, authority-form for CONNECT,
//     and any non-control byte; httpmin takes origin-form (and "*" for
//     OPTIONS) with RFC 3986 characters and valid %-escapes only;
//   - methods: net/http takes any token; httpmin answers 501 to tokens
//     that are not standard methods;
//   - versions: net/http takes any HTTP/d.d; httpmin 505s all but 1.0, 1.1;
//   - repeated Content-Length with equal values: net/http merges them,
//     httpmin refuses (400);
//   - Transfer-Encoding with Content-Length: net/http drops the length,
//     httpmin refuses (400); on HTTP/1.0 net/http ignores Transfer-Encoding,
//     httpmin refuses (400);
//   - Host, Origin, Last-Event-ID repeated, or Host with characters outside
//     host[:port]: ReadRequest accepts (its server rejects some), httpmin
//     refuses (400);
//   - Content-Length above 2^53, more than 64 headers, heads over 16 KiB:
//     httpmin refuses (400, 431).
func FuzzParseDifferential(f *testing.F) {
	addSeeds(f, func(in string) { f.Add([]byte(in)) })
	f.Fuzz(func(t *testing.T, in []byte) {
		var r Request
		n, err := Parse(in, &r)
		if err != nil {
			return
		}
		src := bytes.NewReader(in)
		br := bufio.NewReader(src)
		req, herr := http.ReadRequest(br)
		if herr != nil {
			t.Fatalf("httpmin accepts %q, net/http refuses: %v", in, herr)
		}
		if consumed := len(in) - src.Len() - br.Buffered(); consumed != n {
			t.Errorf("head length %d, net/http read %d", n, consumed)
		}
		if req.Method != string(r.MethodName) || req.RequestURI != string(r.Target) ||
			req.ProtoMajor != 1 || req.ProtoMinor != r.Minor || req.Host != string(r.Host) {
			t.Errorf("httpmin %q %q 1.%d host %q; net/http %q %q %d.%d host %q",
				r.MethodName, r.Target, r.Minor, r.Host,
				req.Method, req.RequestURI, req.ProtoMajor, req.ProtoMinor, req.Host)
		}
		if r.ContentLength >= 0 && req.ContentLength != r.ContentLength {
			t.Errorf("Content-Length %d, net/http %d", r.ContentLength, req.ContentLength)
		}
		if r.Chunked != slices.Equal(req.TransferEncoding, []string{"chunked"}) {
			t.Errorf("chunked %v, net/http Transfer-Encoding %q", r.Chunked, req.TransferEncoding)
		}
		if r.KeepAlive == req.Close {
			t.Errorf("keep-alive %v, net/http close %v", r.KeepAlive, req.Close)
		}
		compareHeaders(t, &r, req.Header)
	})
}

// compareHeaders checks that both parsers saw the same header values, in
// order, apart from the ones net/http moves out of its map.
func compareHeaders(t *testing.T, r *Request, h http.Header) {
	seen := map[string]int{}
	for _, hd := range r.Headers[:r.NumHeaders] {
		key := http.CanonicalHeaderKey(string(hd.Name))
		if key == "Host" || key == "Transfer-Encoding" {
			continue
		}
		i := seen[key]
		seen[key]++
		if i >= len(h[key]) || h[key][i] != string(hd.Value) {
			t.Errorf("header %s #%d = %q, net/http has %q", key, i, hd.Value, h[key])
		}
	}
	for key, values := range h {
		if seen[key] != len(values) {
			t.Errorf("net/http has %s = %q, httpmin saw %d values", key, values, seen[key])
		}
	}
}
