package sse

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

func mustCORS(t testing.TB, list []string, creds bool) *CORS {
	t.Helper()
	c, err := NewCORS(list, creds)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

const fixedHead = "HTTP/1.1 200 OK\r\n" +
	"Content-Type: text/event-stream\r\n" +
	"Cache-Control: no-cache\r\n" +
	"X-Accel-Buffering: no\r\n" +
	"Connection: close\r\n"

func TestAppendStreamHead(t *testing.T) {
	tests := []struct {
		desc   string
		cors   *CORS
		origin string
		want   string
	}{
		{"CORS off", nil, "https://example.com", fixedHead + "\r\n"},
		{"no origin", mustCORS(t, []string{"https://example.com"}, false), "", fixedHead + "Vary: Origin\r\n\r\n"},
		{"refused", mustCORS(t, []string{"https://example.com"}, false), "https://evil.test", fixedHead + "Vary: Origin\r\n\r\n"},
		{"exact", mustCORS(t, []string{"https://example.com"}, false), "https://example.com",
			fixedHead + "Vary: Origin\r\nAccess-Control-Allow-Origin: https://example.com\r\n\r\n"},
		{"star", mustCORS(t, []string{"*"}, false), "https://a.test",
			fixedHead + "Access-Control-Allow-Origin: *\r\n\r\n"},
		{"star refused", mustCORS(t, []string{"*"}, false), "null\x00", fixedHead + "\r\n"},
		{"credentials", mustCORS(t, []string{"https://*.example.com"}, true), "https://a.example.com",
			fixedHead + "Vary: Origin\r\nAccess-Control-Allow-Origin: https://a.example.com\r\n" +
				"Access-Control-Allow-Credentials: true\r\n\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			got := AppendStreamHead([]byte("keep"), tt.cors, []byte(tt.origin))
			if string(got) != "keep"+tt.want {
				t.Fatalf("AppendStreamHead = %q\nwant %q", got[4:], tt.want)
			}
		})
	}
}

// TestStreamHeadHTTP reads the head and a few frames with net/http's client
// reader: the body must be close-delimited and come through byte for byte.
func TestStreamHeadHTTP(t *testing.T) {
	c := mustCORS(t, []string{"https://example.com"}, true)
	body := AppendEvent(nil, 1, []byte("hello"), []byte("a\nb"))
	body = append(body, Heartbeat...)
	stream := append(AppendStreamHead(nil, c, []byte("https://example.com")), body...)

	req, _ := http.NewRequest("GET", "http://example.test/events?channel=a", nil)
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(stream)), req)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct{ what, got, want string }{
		{"status", resp.Status, "200 OK"},
		{"Content-Type", resp.Header.Get("Content-Type"), "text/event-stream"},
		{"Cache-Control", resp.Header.Get("Cache-Control"), "no-cache"},
		{"X-Accel-Buffering", resp.Header.Get("X-Accel-Buffering"), "no"},
		{"Access-Control-Allow-Origin", resp.Header.Get("Access-Control-Allow-Origin"), "https://example.com"},
		{"Access-Control-Allow-Credentials", resp.Header.Get("Access-Control-Allow-Credentials"), "true"},
		{"Vary", resp.Header.Get("Vary"), "Origin"},
		{"body", string(got), string(body)},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.what, c.got, c.want)
		}
	}
	if resp.ContentLength != -1 || !resp.Close || len(resp.TransferEncoding) != 0 {
		t.Errorf("framing: ContentLength %d, Close %v, TransferEncoding %q; want -1, true, none",
			resp.ContentLength, resp.Close, resp.TransferEncoding)
	}
}

func TestAppendPreflight(t *testing.T) {
	allow := "Access-Control-Allow-Methods: GET\r\n" +
		"Access-Control-Allow-Headers: Last-Event-ID, Cache-Control, Authorization\r\n" +
		"Access-Control-Max-Age: 86400\r\n"
	refusal := func(body string, vary, keepAlive bool) string {
		h := "HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain; charset=utf-8\r\nX-Content-Type-Options: nosniff\r\n"
		if vary {
			h += "Vary: Origin\r\n"
		}
		if !keepAlive {
			h += "Connection: close\r\n"
		}
		return h + "Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
	}
	exact := mustCORS(t, []string{"https://example.com"}, false)
	tests := []struct {
		desc      string
		cors      *CORS
		origin    string
		keepAlive bool
		want      string
	}{
		{"allowed", exact, "https://example.com", true,
			"HTTP/1.1 204 No Content\r\nVary: Origin\r\nAccess-Control-Allow-Origin: https://example.com\r\n" + allow + "\r\n"},
		{"allowed close", exact, "https://example.com", false,
			"HTTP/1.1 204 No Content\r\nVary: Origin\r\nAccess-Control-Allow-Origin: https://example.com\r\n" + allow +
				"Connection: close\r\n\r\n"},
		{"star", mustCORS(t, []string{"*"}, false), "https://a.test", true,
			"HTTP/1.1 204 No Content\r\nAccess-Control-Allow-Origin: *\r\n" + allow + "\r\n"},
		{"credentials", mustCORS(t, []string{"*"}, true), "https://a.test", true,
			"HTTP/1.1 204 No Content\r\nVary: Origin\r\nAccess-Control-Allow-Origin: https://a.test\r\n" +
				"Access-Control-Allow-Credentials: true\r\n" + allow + "\r\n"},
		{"refused", exact, "https://evil.test", true,
			refusal("origin \"https://evil.test\" is not in the CORS allow-list\n", true, true)},
		{"refused close", exact, "https://evil.test", false,
			refusal("origin \"https://evil.test\" is not in the CORS allow-list\n", true, false)},
		{"refused hostile", exact, "x\r\nSet-Cookie: a", true,
			refusal("origin \"x\\r\\nSet-Cookie: a\" is not in the CORS allow-list\n", true, true)},
		{"CORS off", nil, "https://example.com", true,
			refusal("origin \"https://example.com\" may not read this server's streams: CORS is off\n", false, true)},
		{"no origin", exact, "", true, "HTTP/1.1 204 No Content\r\nAllow: GET, OPTIONS\r\nVary: Origin\r\n\r\n"},
		{"no origin CORS off", nil, "", false, "HTTP/1.1 204 No Content\r\nAllow: GET, OPTIONS\r\nConnection: close\r\n\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			got := AppendPreflight([]byte("keep"), tt.cors, []byte(tt.origin), tt.keepAlive)
			if string(got) != "keep"+tt.want {
				t.Fatalf("AppendPreflight = %q\nwant %q", got[4:], tt.want)
			}
			// Two answers back to back must read as two responses, the
			// first leaving the connection usable when keepAlive.
			r := bufio.NewReader(bytes.NewReader(append(got[4:], got[4:]...)))
			for i := range 2 {
				resp, err := http.ReadResponse(r, nil)
				if err != nil {
					t.Fatalf("response %d: %v", i, err)
				}
				if _, err := io.Copy(io.Discard, resp.Body); err != nil {
					t.Fatalf("response %d body: %v", i, err)
				}
				if resp.Close == tt.keepAlive {
					t.Errorf("response %d: Close = %v with keepAlive %v", i, resp.Close, tt.keepAlive)
				}
			}
		})
	}
}

func TestPreflightLongOrigin(t *testing.T) {
	origin := "https://" + strings.Repeat("\xff", 4*maxOrigin)
	got := AppendPreflight(nil, nil, []byte(origin), false)
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(got)), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 403 || int64(len(body)) != resp.ContentLength || len(body) > 5*maxOrigin {
		t.Fatalf("status %d, Content-Length %d, body %d bytes", resp.StatusCode, resp.ContentLength, len(body))
	}
}
