package main

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"sync/atomic"
	"testing"
	"time"
)

func TestDrainBins(t *testing.T) {
	s := time.Second
	for _, tc := range []struct {
		ts    []time.Duration
		want  string
		ratio float64
	}{
		{[]time.Duration{0, s / 2, s, 3 * s / 2}, "[2 2]", 1},
		{[]time.Duration{0, 0, 0, 2 * s}, "[3 0 1]", 3 / (4.0 / 3)},
		{[]time.Duration{5 * s, 5 * s}, "[0 0 0 0 0 2]", 1}, // empty leading bins are not averaged over
	} {
		got, ratio := bins(tc.ts, s)
		if fmt.Sprint(got) != tc.want || ratio != tc.ratio {
			t.Errorf("bins(%v) = %v, %v; want %s, %v", tc.ts, got, ratio, tc.want, tc.ratio)
		}
	}
}

// holdStream over a real socket: the retry kept is the last advice after
// the last event, not the stream's first frame.
func TestDrainHoldStream(t *testing.T) {
	for _, tc := range []struct {
		body  string
		retry int
	}{
		{"retry: 3000\n\ndata: a\n\nretry: 42\n\n", 42},
		{"retry: 3000\n\ndata: a\n\n", -1},
		{"retry: 3000\n\nretry: 7\n\ndata: a\n\n", -1},
	} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			buf := make([]byte, 1024)
			c.Read(buf)
			fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n%s", tc.body)
			c.Close()
		}()
		u, _ := url.Parse("http://" + ln.Addr().String() + "/events?channel=x")
		var t0 atomic.Int64
		opened := make(chan error, 1)
		sem := make(chan struct{}, 1)
		sem <- struct{}{}
		e := holdStream(context.Background(), u, &t0, opened, sem)
		ln.Close()
		if err := <-opened; err != nil || e.Err != "" || e.Unended || e.Retry != tc.retry {
			t.Errorf("body %q: %+v (open %v), want retry %d", tc.body, e, err, tc.retry)
		}
	}
}
