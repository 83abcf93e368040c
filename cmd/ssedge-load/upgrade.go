package main

// ssedge-load upgrade: holds streams on one channel while it publishes at
// a steady rate, sends SIGUSR2 to the server in the middle, and reports
// what the clients saw: connections that ended (there should be none),
// events missed or seen twice, and the longest pause in delivery any
// client saw (the upgrade's cost to a client), against the same figure
// before the upgrade.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

type upgradeConfig struct {
	url      *url.URL
	conns    int
	parallel int
	socket   string
	pidFile  string
	rate     int
	before   time.Duration
	after    time.Duration
}

// upgradeClient is one stream's record. Owned by its reading goroutine
// until the run ends.
type upgradeClient struct {
	last   uint64 // atomic: the run reads it while the stream reads
	events int
	dups   int
	lastAt time.Time
	maxGap time.Duration // longest time between two events, after the first
	before time.Duration // the same, among gaps that ended before SIGUSR2 (the baseline)
	gapAt  time.Time     // when that gap ended
	ended  error
}

func upgradeMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("upgrade", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg upgradeConfig
	rawURL := fs.String("url", "http://127.0.0.1:8080/events?channel=bench", "stream URL: http://HOST:PORT/events?channel=NAME")
	fs.IntVar(&cfg.conns, "conns", 1000, "streams to hold")
	fs.IntVar(&cfg.parallel, "parallel", 256, "connections opened at a time")
	fs.StringVar(&cfg.socket, "publish-socket", "", "the server's publish socket")
	fs.StringVar(&cfg.pidFile, "pid-file", "", "the server's --pid-file: SIGUSR2 goes to the pid it names")
	fs.IntVar(&cfg.rate, "rate", 200, "events published a second")
	fs.DurationVar(&cfg.before, "before", 3*time.Second, "publishing before the signal")
	fs.DurationVar(&cfg.after, "after", 3*time.Second, "publishing after the new process took over")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	u, err := url.Parse(*rawURL)
	if err != nil || u.Scheme != "http" || u.Host == "" || cfg.socket == "" || cfg.pidFile == "" {
		fmt.Fprintln(stderr, "upgrade: --url http://HOST:PORT/events?channel=NAME, --publish-socket and --pid-file are required")
		return 2
	}
	cfg.url = u
	if err := runUpgrade(cfg, stdout, stderr); err != nil {
		fmt.Fprintln(stderr, "upgrade:", err)
		return 1
	}
	return 0
}

func runUpgrade(cfg upgradeConfig, stdout, stderr io.Writer) error {
	clients := make([]*upgradeClient, cfg.conns)
	var opened, failed atomic.Int64
	var wg sync.WaitGroup
	sem := make(chan struct{}, cfg.parallel)
	ready := make(chan struct{}, cfg.conns)
	for i := range clients {
		clients[i] = &upgradeClient{}
		sem <- struct{}{}
		wg.Add(1)
		go func(c *upgradeClient) {
			defer wg.Done()
			conn, br, err := openUpgradeStream(cfg.url)
			<-sem
			if err != nil {
				failed.Add(1)
				c.ended = err
				ready <- struct{}{}
				return
			}
			opened.Add(1)
			ready <- struct{}{}
			c.read(conn, br)
		}(clients[i])
	}
	for range clients {
		<-ready
	}
	if n := failed.Load(); n > 0 {
		return fmt.Errorf("%d of %d streams did not open: %v", n, cfg.conns, firstErr(clients))
	}
	fmt.Fprintf(stderr, "%d streams open; publishing %d/s\n", opened.Load(), cfg.rate)
	time.Sleep(time.Second) // lets the server register the last subscribers before the first event

	pub := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", cfg.socket)
		}}}
	channel := cfg.url.Query().Get("channel")
	var ids []uint64
	retries := 0
	var pubGap time.Duration
	var lastPub time.Time
	publish := func(until time.Time) error {
		tick := time.NewTicker(time.Second / time.Duration(cfg.rate))
		defer tick.Stop()
		for time.Now().Before(until) {
			<-tick.C
			for try := 0; ; try++ {
				id, err := publishOne(pub, channel, len(ids))
				if err == nil {
					now := time.Now()
					if !lastPub.IsZero() && now.Sub(lastPub) > pubGap {
						pubGap = now.Sub(lastPub)
					}
					lastPub = now
					ids = append(ids, id)
					break
				}
				if retries++; try > 500 {
					return err
				}
				pub.CloseIdleConnections()
				time.Sleep(5 * time.Millisecond)
			}
		}
		return nil
	}
	if err := publish(time.Now().Add(cfg.before)); err != nil {
		return err
	}
	oldPid, err := readPidFile(cfg.pidFile)
	if err != nil {
		return err
	}
	signalled := time.Now()
	signalledAt.Store(signalled.UnixNano())
	if err := sendUpgrade(oldPid); err != nil {
		return err
	}
	// Go on publishing while the server hands over; the pid file names the
	// new process once it serves.
	var tookOver time.Duration
	deadline := signalled.Add(30 * time.Second)
	for tookOver == 0 {
		if err := publish(time.Now().Add(10 * time.Millisecond)); err != nil {
			return err
		}
		if pid, _ := readPidFile(cfg.pidFile); pid != 0 && pid != oldPid {
			tookOver = time.Since(signalled)
		} else if time.Now().After(deadline) {
			return fmt.Errorf("no new pid in %s after 30 s", cfg.pidFile)
		}
	}
	if err := publish(time.Now().Add(cfg.after)); err != nil {
		return err
	}
	// Wait for the last event to arrive everywhere (or 10 s).
	want := len(ids)
	lastID := ids[len(ids)-1]
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		done := 0
		for _, c := range clients {
			if atomic.LoadUint64(&c.last) >= lastID {
				done++
			}
		}
		if done == len(clients) {
			break
		}
	}
	// Stop the readers and count.
	for _, c := range clients {
		c.stop()
	}
	wg.Wait()
	var ended, short, dups int
	var gaps []time.Duration
	var baseline time.Duration
	var worst *upgradeClient
	for _, c := range clients {
		if c.ended != nil && c.ended != errStopped {
			ended++
		}
		if c.events < want {
			short++
		}
		dups += c.dups
		gaps = append(gaps, c.maxGap)
		baseline = max(baseline, c.before)
		if worst == nil || c.maxGap > worst.maxGap {
			worst = c
		}
	}
	slices.Sort(gaps)
	fmt.Fprintf(stdout, "streams            %d\n", len(clients))
	fmt.Fprintf(stdout, "events published   %d at %d/s (%d publish retries)\n", want, cfg.rate, retries)
	fmt.Fprintf(stdout, "streams ended      %d\n", ended)
	fmt.Fprintf(stdout, "streams short      %d (fewer events than published)\n", short)
	fmt.Fprintf(stdout, "duplicates         %d\n", dups)
	fmt.Fprintf(stdout, "pid file changed   %v after SIGUSR2\n", tookOver.Round(time.Millisecond))
	fmt.Fprintf(stdout, "longest pause      %v, ended %v after SIGUSR2 (median stream's longest %v, p99 %v; events every %v)\n",
		worst.maxGap.Round(time.Millisecond), worst.gapAt.Sub(signalled).Round(time.Millisecond),
		gaps[len(gaps)/2].Round(time.Millisecond), gaps[len(gaps)*99/100].Round(time.Millisecond), time.Second/time.Duration(cfg.rate))
	fmt.Fprintf(stdout, "before SIGUSR2     longest pause %v (the baseline under this load)\n", baseline.Round(time.Millisecond))
	fmt.Fprintf(stdout, "publish gaps       longest %v between two publishes (the publisher's own view)\n", pubGap.Round(time.Millisecond))
	if ended > 0 || short > 0 || dups > 0 {
		return fmt.Errorf("%d streams ended, %d short, %d duplicates", ended, short, dups)
	}
	return nil
}

var errStopped = fmt.Errorf("stopped by the run")

// signalledAt is when SIGUSR2 was sent (unix ns; 0 before).
var signalledAt atomic.Int64

func firstErr(clients []*upgradeClient) error {
	for _, c := range clients {
		if c.ended != nil {
			return c.ended
		}
	}
	return nil
}

// stopConns is every stream's connection, closed by stop.
var stopConns sync.Map

func (c *upgradeClient) stop() {
	if v, ok := stopConns.Load(c); ok {
		v.(net.Conn).Close()
	}
}

// read counts the stream's events until its connection ends.
func (c *upgradeClient) read(conn net.Conn, br *bufio.Reader) {
	stopConns.Store(c, conn)
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				c.ended = errStopped
			} else {
				c.ended = err
			}
			return
		}
		id, ok := bytes.CutPrefix(line, []byte("id: "))
		if !ok {
			continue
		}
		n, _ := strconv.ParseUint(string(bytes.TrimSpace(id)), 10, 64)
		now := time.Now()
		if n <= c.last {
			c.dups++
			continue
		}
		if c.events > 0 {
			g := now.Sub(c.lastAt)
			if g > c.maxGap {
				c.maxGap, c.gapAt = g, now
			}
			if sig := signalledAt.Load(); (sig == 0 || now.UnixNano() < sig) && g > c.before {
				c.before = g
			}
		}
		c.events++
		c.lastAt = now
		atomic.StoreUint64(&c.last, n)
	}
}

func openUpgradeStream(u *url.URL) (net.Conn, *bufio.Reader, error) {
	conn, err := net.DialTimeout("tcp", u.Host, 15*time.Second)
	if err != nil {
		return nil, nil, err
	}
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", u.RequestURI(), u.Host)
	br := bufio.NewReaderSize(conn, 4096)
	conn.SetReadDeadline(time.Now().Add(15 * time.Second))
	status, err := br.ReadString('\n')
	if err != nil || !strings.Contains(status, " 200 ") {
		conn.Close()
		return nil, nil, fmt.Errorf("stream answer %q: %v", strings.TrimSpace(status), err)
	}
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			conn.Close()
			return nil, nil, err
		}
		if l == "\r\n" {
			break
		}
	}
	conn.SetReadDeadline(time.Time{})
	return conn, br, nil
}

func publishOne(c *http.Client, channel string, i int) (uint64, error) {
	resp, err := c.Post("http://x/publish?channel="+url.QueryEscape(channel), "text/plain", strings.NewReader("event "+strconv.Itoa(i)))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return 0, fmt.Errorf("publish: %d %q", resp.StatusCode, b)
	}
	return strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
}

func readPidFile(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}
