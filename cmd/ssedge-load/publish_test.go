package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"
)

// TestPublishPipelines: the fake server reads every request before it
// answers any, which only a pipelining publisher gets through; the ids come
// back matched to their events, in ssedge's and Nchan's answer formats.
func TestPublishPipelines(t *testing.T) {
	const events = 5
	for _, c := range []struct {
		name   string
		answer func(i int) string // the answer to request i
		want   func(i int) uint64
	}{
		{"ssedge", func(i int) string {
			body := fmt.Sprintf("%d\n", 1000+i)
			return fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
		}, func(i int) uint64 { return uint64(1000 + i) }},
		{"nchan, chunked", func(i int) string {
			body := fmt.Sprintf("queued messages: 1\r\nlast requested: 0 sec. ago\r\nactive subscribers: 0\r\nlast message id: 1700000000:%d\r\n", i)
			return fmt.Sprintf("HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n", len(body), body)
		}, func(i int) uint64 { return 1700000000<<16 | uint64(i) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			sock := filepath.Join(t.TempDir(), "pub.sock")
			ln, err := net.Listen("unix", sock)
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			bodies := make(chan []string, 1)
			go func() {
				conn, err := ln.Accept()
				if err != nil {
					return
				}
				defer conn.Close()
				br := bufio.NewReader(conn)
				var got []string
				for range events {
					req, err := http.ReadRequest(br)
					if err != nil {
						break
					}
					b, _ := io.ReadAll(req.Body)
					got = append(got, req.Method+" "+req.URL.String()+" "+string(b[:min(len(b), 11)]))
				}
				bodies <- got
				for i := range events {
					io.WriteString(conn, c.answer(i))
				}
				io.Copy(io.Discard, conn)
			}()

			pub, err := newPublisher(sock, "", "bench", "")
			if err != nil {
				t.Fatal(err)
			}
			defer pub.close()
			cfg := &config{events: events, interval: time.Millisecond, size: 60, run: 7, quiet: true}
			sends, err := publishAll(cfg, pub, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			for i, s := range sends {
				if s.Seq != i+1 || s.ID != c.want(i) || s.RTTNs <= 0 {
					t.Errorf("event %d: seq %d, id %d, answered after %d ns: want seq %d, id %d, a positive time", i, s.Seq, s.ID, s.RTTNs, i+1, c.want(i))
				}
			}
			got := <-bodies
			if len(got) != events || got[0] != "POST /publish?channel=bench run=7 seq=1" {
				t.Errorf("the server read %q, want %d POSTs to /publish?channel=bench carrying run=7", got, events)
			}
		})
	}
}

// TestPublishRedial: with --publish-redial, a server that answers one
// request and closes the connection (as an old process does after a
// binary upgrade) gets the next request on a new connection, once; every
// event gets its id.
func TestPublishRedial(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "pub.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	requests := make(chan int, 16) // the connection number of each request read
	go func() {
		for n := 0; ; n++ {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			req, err := http.ReadRequest(bufio.NewReader(conn))
			if err == nil {
				io.ReadAll(req.Body)
				requests <- n
				body := fmt.Sprintf("%d\n", 500+len(requests))
				fmt.Fprintf(conn, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
			}
			conn.Close() // one request per connection
		}
	}()
	pub, err := newPublisher(sock, "", "bench", "")
	if err != nil {
		t.Fatal(err)
	}
	defer pub.close()
	cfg := &config{events: 3, interval: 10 * time.Millisecond, size: 20, quiet: true, publishRedial: true}
	sends, err := publishAll(cfg, pub, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range sends {
		if s.ID == 0 || s.Seq != i+1 {
			t.Fatalf("event %d: %+v", i+1, s)
		}
	}
	if n := len(requests); n != 3 {
		t.Fatalf("the server read %d requests, want 3 (one each, none twice)", n)
	}
	for want := range 3 {
		if got := <-requests; got != want {
			t.Fatalf("request %d came on connection %d, want a new connection for each", want, got)
		}
	}
}
