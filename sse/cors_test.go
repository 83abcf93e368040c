package sse

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestCORSAllowed(t *testing.T) {
	exact := []string{"https://example.com", "http://localhost:8080"}
	wild := []string{"https://*.example.com"}
	tests := []struct {
		desc    string
		list    []string
		creds   bool
		origin  string
		allowed bool
		acao    string // Access-Control-Allow-Origin sent, "" for none
	}{
		{"exact", exact, false, "https://example.com", true, "https://example.com"},
		{"exact with port", exact, false, "http://localhost:8080", true, "http://localhost:8080"},
		{"exact other scheme", exact, false, "http://example.com", false, ""},
		{"exact other port", exact, false, "https://example.com:8443", false, ""},
		{"exact missing port", exact, false, "http://localhost", false, ""},
		{"exact subdomain", exact, false, "https://a.example.com", false, ""},
		{"exact trailing slash", exact, false, "https://example.com/", false, ""},
		{"exact upper case", exact, false, "https://EXAMPLE.com", false, ""},
		{"exact suffix attack", exact, false, "https://example.com.evil.net", false, ""},
		{"no origin", exact, false, "", false, ""},
		{"null", exact, false, "null", false, ""},
		{"wildcard one label", wild, false, "https://a.example.com", true, "https://a.example.com"},
		{"wildcard two labels", wild, false, "https://a.b.example.com", true, "https://a.b.example.com"},
		{"wildcard apex", wild, false, "https://example.com", false, ""},
		{"wildcard suffix attack", wild, false, "https://evilexample.com", false, ""},
		{"wildcard dot only", wild, false, "https://.example.com", false, ""},
		{"wildcard empty label", wild, false, "https://a..example.com", false, ""},
		{"wildcard other scheme", wild, false, "http://a.example.com", false, ""},
		{"wildcard with port", wild, false, "https://a.example.com:8443", false, ""},
		{"wildcard path smuggle", wild, false, "https://evil.net/.example.com", false, ""},
		{"wildcard port smuggle", wild, false, "https://evil.net:1.example.com", false, ""},
		{"wildcard userinfo smuggle", wild, false, "https://evil.net@a.example.com", false, ""},
		{"wildcard CRLF", wild, false, "https://a\r\nX: y.example.com", false, ""},
		{"wildcard port entry", []string{"https://*.example.com:8443"}, false, "https://a.example.com:8443", true, "https://a.example.com:8443"},
		{"wildcard port entry no port", []string{"https://*.example.com:8443"}, false, "https://a.example.com", false, ""},
		{"star", []string{"*"}, false, "https://anything.test", true, "*"},
		{"star null", []string{"*"}, false, "null", true, "*"},
		{"star CRLF", []string{"*"}, false, "https://a\r\nSet-Cookie: x", false, ""},
		{"star too long", []string{"*"}, false, "https://" + strings.Repeat("a", maxOrigin), false, ""},
		{"star no origin", []string{"*"}, false, "", false, ""},
		{"star with exact", []string{"*", "https://example.com"}, false, "https://example.com", true, "*"},
		{"star credentials", []string{"*"}, true, "https://anything.test", true, "https://anything.test"},
		{"star credentials null", []string{"*"}, true, "null", false, ""},
		{"exact credentials", exact, true, "https://example.com", true, "https://example.com"},
		{"wildcard credentials", wild, true, "https://a.example.com", true, "https://a.example.com"},
		{"nil CORS", nil, false, "https://example.com", false, ""},
		{"nil CORS credentials", nil, true, "https://example.com", false, ""},
		{"normalized entry", []string{"HTTPS://Example.COM:443"}, false, "https://example.com", true, "https://example.com"},
		{"normalized http port", []string{"http://example.com:80"}, false, "http://example.com", true, "http://example.com"},
		{"IPv6", []string{"http://[::1]:3000"}, false, "http://[::1]:3000", true, "http://[::1]:3000"},
		{"extension scheme", []string{"chrome-extension://abcdef"}, false, "chrome-extension://abcdef", true, "chrome-extension://abcdef"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			c, err := NewCORS(tt.list, tt.creds)
			if err != nil {
				t.Fatalf("NewCORS(%q) = %v", tt.list, err)
			}
			if got := c.Allowed([]byte(tt.origin)); got != tt.allowed {
				t.Errorf("Allowed(%q) = %v, want %v", tt.origin, got, tt.allowed)
			}
			head := string(AppendStreamHead(nil, c, []byte(tt.origin)))
			var acao string
			if _, v, ok := strings.Cut(head, "Access-Control-Allow-Origin: "); ok {
				acao, _, _ = strings.Cut(v, "\r\n")
			}
			if acao != tt.acao {
				t.Errorf("Access-Control-Allow-Origin = %q, want %q", acao, tt.acao)
			}
			wantCreds := tt.creds && tt.allowed
			if got := strings.Contains(head, "Access-Control-Allow-Credentials: true\r\n"); got != wantCreds {
				t.Errorf("Access-Control-Allow-Credentials sent = %v, want %v", got, wantCreds)
			}
			// The allow-origin value is the constant "*" only for a "*" list
			// without credentials; otherwise it varies with Origin.
			wantVary := c != nil && (tt.creds || !slices.Contains(tt.list, "*"))
			if got := strings.Contains(head, "Vary: Origin\r\n"); got != wantVary {
				t.Errorf("Vary: Origin sent = %v, want %v", got, wantVary)
			}
		})
	}
}

func TestNewCORSOff(t *testing.T) {
	for _, list := range [][]string{nil, {}} {
		c, err := NewCORS(list, true)
		if c != nil || err != nil {
			t.Errorf("NewCORS(%q) = %v, %v; want nil, nil", list, c, err)
		}
	}
}

func TestNewCORSErrors(t *testing.T) {
	tests := []struct {
		entry string
		why   string // a part of the message
	}{
		{"", "empty"},
		{"null", "opaque"},
		{"example.com", "no scheme"},
		{"://example.com", "no scheme"},
		{"1http://example.com", "no scheme"},
		{"https://example.com/", `try "https://example.com"`},
		{"https://example.com/app", "no path"},
		{"https://example.com?x", "no path"},
		{"https://user@example.com", "user info"},
		{"https://a*.example.com", "wildcard"},
		{"https://*.*.example.com", "wildcard"},
		{"https://www.*.example.com", "wildcard"},
		{"https://*.com", "single label"},
		{"https://*", "wildcard"},
		{"https://", "bad host"},
		{"https://exa mple.com", "bad host"},
		{"https://bücher.de", "punycode"},
		{"https://example..com", "bad host"},
		{"https://example.com:", "port"},
		{"https://example.com:0", "port"},
		{"https://example.com:080", "port"},
		{"https://example.com:+80", "port"},
		{"https://example.com:65536", "port"},
		{"https://example.com:1:2", "port"},
		{"http://[::1", "IPv6"},
		{"http://[zz::1]", "IPv6"},
		{"http://[::1]x", "IPv6"},
		{"http://*.[::1]", "IPv6"},
	}
	for _, tt := range tests {
		_, err := NewCORS([]string{"https://ok.example", tt.entry}, false)
		if !errors.Is(err, ErrOrigin) {
			t.Errorf("NewCORS(%q) = %v, want ErrOrigin", tt.entry, err)
			continue
		}
		msg := err.Error()
		if !strings.HasPrefix(msg, "sse: invalid CORS origin ") || !strings.Contains(msg, quoted(tt.entry)) ||
			!strings.Contains(msg, tt.why) || !strings.Contains(msg, "want ") {
			t.Errorf("NewCORS(%q) error %q: want the entry quoted, %q and what is expected", tt.entry, msg, tt.why)
		}
	}
}

func TestNewCORSLocalhostWildcard(t *testing.T) {
	c, err := NewCORS([]string{"http://*.localhost:3000"}, false)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Allowed([]byte("http://app.localhost:3000")) {
		t.Error("http://app.localhost:3000 refused by http://*.localhost:3000")
	}
}

func BenchmarkAllowed(b *testing.B) {
	c, err := NewCORS([]string{"https://example.com", "https://www.example.org", "https://*.example.net"}, true)
	if err != nil {
		b.Fatal(err)
	}
	for _, origin := range []string{"https://example.com", "https://a.b.example.net", "https://evil.test"} {
		o := []byte(origin)
		b.Run(origin, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				c.Allowed(o)
			}
		})
	}
}

// FuzzAllowedHeaderSafe checks that whatever an allow-list accepts can be
// echoed into a header without breaking it, and that a wildcard never
// accepts an origin outside its parent domain.
func FuzzAllowedHeaderSafe(f *testing.F) {
	f.Add("https://*.example.com", "https://a.example.com")
	f.Add("*", "https://evilexample.com")
	f.Add("https://*.example.com:8443", "https://evil.net/.example.com:8443")
	f.Fuzz(func(t *testing.T, entry, origin string) {
		c, err := NewCORS([]string{entry}, true)
		if err != nil || !c.Allowed([]byte(origin)) {
			return
		}
		if !visibleASCII([]byte(origin)) {
			t.Fatalf("%q allowed %q, which holds bytes unfit for a header", entry, origin)
		}
		if len(c.wildcards) == 1 {
			w := c.wildcards[0]
			host := strings.TrimSuffix(strings.TrimPrefix(origin, w.prefix), w.suffix)
			if strings.ContainsAny(host, ":/@?#") || !strings.HasSuffix(origin, w.suffix) {
				t.Fatalf("%q allowed %q", entry, origin)
			}
		}
		head := AppendStreamHead(nil, c, []byte(origin))
		if bytes.Count(head, []byte("\r\n")) != 9 {
			t.Fatalf("head for %q has a forged line: %q", origin, head)
		}
	})
}
