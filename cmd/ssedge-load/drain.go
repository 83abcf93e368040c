package main

// ssedge-load drain measures a graceful shutdown from the clients' side:
// it holds --conns streams, sends SIGTERM to --server-pid (or waits for
// the server to be stopped by someone else), and records when each
// stream ended and the retry: advice it got last. An EventSource
// reconnects that many milliseconds after the end, so "reconnect" is the
// end plus that advice. It prints both as histograms of --bucket wide
// bins from the signal, with the average bin and the fullest bin against
// it: a drain that spreads reconnects keeps that ratio near 1, a server
// that closes everything at once puts every stream in one bin.
//
//	ssedge-load drain --url 'http://127.0.0.1:8080/events?channel=x' --conns 10000 --server-pid PID

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

type drainConfig struct {
	url      *url.URL
	conns    int
	pid      int
	bucket   time.Duration
	timeout  time.Duration
	parallel int
	jsonPath string
}

// drainEnd is one stream's end: when, relative to the signal, and the
// last retry advice before it (-1: none after the first frame).
type drainEnd struct {
	At      time.Duration
	Retry   int
	Err     string
	Unended bool // still open at --timeout
}

func drainMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("drain", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg drainConfig
	rawURL := fs.String("url", "", "stream URL: http://HOST:PORT/events?channel=NAME")
	fs.IntVar(&cfg.conns, "conns", 1000, "streams to hold")
	fs.IntVar(&cfg.pid, "server-pid", 0, "send SIGTERM to this pid once every stream is open (0: wait for the first stream to end, and count from there)")
	fs.DurationVar(&cfg.bucket, "bucket", time.Second, "histogram bin width")
	fs.DurationVar(&cfg.timeout, "timeout", 2*time.Minute, "give up on streams still open this long after the signal")
	fs.IntVar(&cfg.parallel, "parallel", 64, "connections opened at a time")
	fs.StringVar(&cfg.jsonPath, "json", "", "also write the ends and histograms as JSON to this file")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	u, err := url.Parse(*rawURL)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		fmt.Fprintf(stderr, "drain: --url %q: expected http://HOST:PORT/PATH?QUERY\n", *rawURL)
		return 2
	}
	if cfg.conns < 1 || cfg.bucket <= 0 || cfg.parallel < 1 {
		fmt.Fprintln(stderr, "drain: --conns, --bucket and --parallel must be positive")
		return 2
	}
	cfg.url = u
	res, err := runDrain(cfg, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "drain:", err)
		return 1
	}
	res.write(stdout)
	if cfg.jsonPath != "" {
		b, _ := json.MarshalIndent(res, "", "  ")
		if err := os.WriteFile(cfg.jsonPath, b, 0o644); err != nil {
			fmt.Fprintln(stderr, "drain:", err)
			return 1
		}
	}
	if res.Unended > 0 || res.Errors > 0 {
		return 1
	}
	return 0
}

// drainResult is the report.
type drainResult struct {
	Conns      int           `json:"conns"`
	Unended    int           `json:"unended"`     // still open at --timeout
	Errors     int           `json:"errors"`      // ended by an error other than EOF
	WithRetry  int           `json:"with_retry"`  // got retry advice after their first frame
	Distinct   int           `json:"distinct"`    // distinct retry values among them
	First      time.Duration `json:"first_ns"`    // first end after the signal
	Last       time.Duration `json:"last_ns"`     // last end
	Bucket     time.Duration `json:"bucket_ns"`   // bin width
	Closes     []int         `json:"closes"`      // ends per bin from the signal
	Reconnects []int         `json:"reconnects"`  // ends plus retry advice per bin
	CloseRatio float64       `json:"close_ratio"` // fullest bin / average bin, over the bins from the first to the last non-empty one
	RecRatio   float64       `json:"reconnect_ratio"`
}

func runDrain(cfg drainConfig, log io.Writer) (*drainResult, error) {
	var t0 atomic.Int64 // unix ns of the signal (or of the first end)
	ends := make([]drainEnd, cfg.conns)
	opened := make(chan error, cfg.conns)
	var wg sync.WaitGroup
	sem := make(chan struct{}, cfg.parallel)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for i := range cfg.conns {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			ends[i] = holdStream(ctx, cfg.url, &t0, opened, sem)
		}()
		if i%1000 == 999 {
			fmt.Fprintf(log, "drain: %d streams opening\n", i+1)
		}
	}
	for range cfg.conns {
		if err := <-opened; err != nil {
			return nil, fmt.Errorf("opening streams: %w", err)
		}
	}
	fmt.Fprintf(log, "drain: %d streams open\n", cfg.conns)
	if cfg.pid != 0 {
		p, err := os.FindProcess(cfg.pid)
		if err == nil {
			t0.Store(time.Now().UnixNano())
			err = p.Signal(syscall.SIGTERM)
		}
		if err != nil {
			return nil, fmt.Errorf("signalling --server-pid %d: %w", cfg.pid, err)
		}
		fmt.Fprintf(log, "drain: SIGTERM sent to %d\n", cfg.pid)
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(cfg.timeout):
		cancel()
		<-done
	}
	return summarize(cfg, ends), nil
}

// holdStream opens one stream, reports on opened, and reads it to its end.
func holdStream(ctx context.Context, u *url.URL, t0 *atomic.Int64, opened chan<- error, sem <-chan struct{}) drainEnd {
	c, err := net.DialTimeout("tcp", u.Host, 10*time.Second)
	if err == nil {
		fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\n\r\n", u.RequestURI(), u.Host)
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
	}
	var br *bufio.Reader
	if err == nil {
		br = bufio.NewReaderSize(c, 4096)
		err = readStreamHead(br)
	}
	<-sem
	opened <- err
	if err != nil {
		if c != nil {
			c.Close()
		}
		return drainEnd{Err: err.Error()}
	}
	defer c.Close()
	c.SetReadDeadline(time.Time{})
	stop := context.AfterFunc(ctx, func() { c.SetReadDeadline(time.Now()) })
	defer stop()
	retry, frames := -1, 0
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			now := time.Now().UnixNano()
			t0.CompareAndSwap(0, now)
			e := drainEnd{At: time.Duration(now - t0.Load()), Retry: retry}
			if errors.Is(err, os.ErrDeadlineExceeded) {
				e.Unended = true
			} else if err != io.EOF {
				e.Err = err.Error()
			}
			return e
		}
		switch {
		case len(bytes.TrimRight(line, "\r\n")) == 0:
			frames++
		case bytes.HasPrefix(line, []byte("retry:")) && frames > 0:
			// The first frame's retry is the server's standing advice;
			// only a later one is the drain's.
			retry, _ = strconv.Atoi(strings.TrimSpace(string(line[len("retry:"):])))
		case bytes.HasPrefix(line, []byte("data:")):
			retry = -1 // advice is what came last, after every event
		}
	}
}

// readStreamHead reads a response head and wants 200 text/event-stream.
func readStreamHead(br *bufio.Reader) error {
	status, err := br.ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(status, "HTTP/1.1 200 ") {
		return fmt.Errorf("answer %q, want 200", strings.TrimSpace(status))
	}
	sse := false
	for {
		h, err := br.ReadString('\n')
		if err != nil {
			return err
		}
		if h == "\r\n" {
			break
		}
		if strings.HasPrefix(strings.ToLower(h), "content-type: text/event-stream") {
			sse = true
		}
	}
	if !sse {
		return fmt.Errorf("answer is no event stream")
	}
	return nil
}

func summarize(cfg drainConfig, ends []drainEnd) *drainResult {
	r := &drainResult{Conns: len(ends), Bucket: cfg.bucket, First: -1}
	retries := map[int]bool{}
	var at, rec []time.Duration
	for _, e := range ends {
		switch {
		case e.Unended:
			r.Unended++
			continue
		case e.Err != "":
			r.Errors++
			continue
		}
		at = append(at, e.At)
		re := e.At
		if e.Retry >= 0 {
			r.WithRetry++
			retries[e.Retry] = true
			re += time.Duration(e.Retry) * time.Millisecond
		}
		rec = append(rec, re)
	}
	r.Distinct = len(retries)
	if len(at) > 0 {
		r.First, r.Last = slices.Min(at), slices.Max(at)
	}
	r.Closes, r.CloseRatio = bins(at, cfg.bucket)
	r.Reconnects, r.RecRatio = bins(rec, cfg.bucket)
	return r
}

// bins counts ts per bin of width w from 0, and returns the fullest bin
// against the average over the bins from the first non-empty one to the
// last.
func bins(ts []time.Duration, w time.Duration) ([]int, float64) {
	if len(ts) == 0 {
		return nil, 0
	}
	var out []int
	for _, t := range ts {
		i := int(max(t, 0) / w)
		for len(out) <= i {
			out = append(out, 0)
		}
		out[i]++
	}
	first := 0
	for out[first] == 0 {
		first++
	}
	span := out[first:]
	avg := float64(len(ts)) / float64(len(span))
	return out, float64(slices.Max(span)) / avg
}

func (r *drainResult) write(w io.Writer) {
	fmt.Fprintf(w, "streams %d, ended by error %d, still open %d\n", r.Conns, r.Errors, r.Unended)
	fmt.Fprintf(w, "ends from the signal: first %v, last %v\n", r.First.Round(time.Millisecond), r.Last.Round(time.Millisecond))
	fmt.Fprintf(w, "final retry advice: %d streams, %d distinct values\n", r.WithRetry, r.Distinct)
	fmt.Fprintf(w, "%-10s %10s %12s\n", "from", "closes", "reconnects")
	for i := range max(len(r.Closes), len(r.Reconnects)) {
		var c, re int
		if i < len(r.Closes) {
			c = r.Closes[i]
		}
		if i < len(r.Reconnects) {
			re = r.Reconnects[i]
		}
		fmt.Fprintf(w, "%-10v %10d %12d\n", time.Duration(i)*r.Bucket, c, re)
	}
	fmt.Fprintf(w, "fullest bin / average bin: closes %.2f, reconnects %.2f\n", r.CloseRatio, r.RecRatio)
}
