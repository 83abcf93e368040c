package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"net/url"
	"time"
)

const (
	// maxConnsPerWorker keeps a worker under the 20,000 open files a
	// process may have here, with room for its pipes and epoll.
	maxConnsPerWorker = 18000
	// connsPerSrcAddr keeps each source address well inside the ephemeral
	// port range (32768-60999 by default) toward the one target port.
	connsPerSrcAddr = 10000
	// autoConnsPerWorker is how many connections --procs 0 gives a worker.
	autoConnsPerWorker = 15000
)

// config is a load run, from the flags.
type config struct {
	url            *url.URL
	target         netip.AddrPort // where subscriptions connect
	conns          int
	procs          int
	srcAddrs       []string
	concurrency    int
	connectTimeout time.Duration
	publishSocket  string
	publishURL     string
	channel        string
	event          string
	events         int
	interval       time.Duration
	size           int
	serverPID      int
	floorPairs     int
	floorBursts    int
	settle         time.Duration
	drain          time.Duration
	jsonPath       string
	label          string
	quiet          bool
	idle           time.Duration // kernmem.go
	heartbeat      time.Duration
	storm          bool // storm.go
	publishRedial  bool // publishEach
	stormAfter     int
	stormConc      int
	stormSample    time.Duration
	run            uint64 // tags this run's events, see payload.go
}

func parseConfig(args []string, stderr io.Writer) (*config, error) {
	fs := flag.NewFlagSet("ssedge-load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: ssedge-load --url URL --publish-socket PATH [flags]\n"+
			"       ssedge-load compare [--base LABEL] RESULT.json...\n"+
			"       ssedge-load report-md [--into FILE.md] [--command CMD] [--peers TEXT] [--chart FILE.svg] RESULT.json...\n"+
			"       ssedge-load chart [--out FILE.svg] [--rate R] RESULT.json...\n\n")
		fs.PrintDefaults()
	}
	rawURL := fs.String("url", "http://127.0.0.1:8080/events?channel=bench", "subscription URL (http, IPv4 host)")
	c := &config{}
	fs.IntVar(&c.conns, "conns", 1000, "SSE connections to open")
	fs.IntVar(&c.procs, "procs", 0, fmt.Sprintf("worker processes (0: max(2, one per %d connections)); each holds at most %d", autoConnsPerWorker, maxConnsPerWorker))
	nSrc := fs.Int("src-addrs", 0, fmt.Sprintf("source addresses to spread connections over (0: one per %d connections on a loopback target, none otherwise)", connsPerSrcAddr))
	srcBase := fs.String("src-base", "127.1.0.1", "first source address; the next ones count up from it")
	fs.IntVar(&c.concurrency, "concurrency", 512, "connects in flight per worker")
	fs.DurationVar(&c.connectTimeout, "connect-timeout", 15*time.Second, "time for one connection to reach the event stream")
	fs.StringVar(&c.publishSocket, "publish-socket", "", "unix socket to publish on (POST /publish)")
	fs.StringVar(&c.publishURL, "publish-url", "", "publish over TCP instead, e.g. http://127.0.0.1:8081/publish")
	fs.StringVar(&c.channel, "channel", "", "channel to publish to (default: the first channel= of --url)")
	fs.StringVar(&c.event, "event", "", "event type to publish with (default: none)")
	fs.IntVar(&c.events, "events", 5, "events to publish")
	fs.DurationVar(&c.interval, "interval", 500*time.Millisecond, "time between events")
	fs.IntVar(&c.size, "size", 100, "bytes of data per event (at least the header, about 50)")
	fs.IntVar(&c.serverPID, "server-pid", 0, "server process to read RSS and CPU of, summed with all its descendants (0: skip those figures)")
	fs.IntVar(&c.floorPairs, "floor-pairs", 200, "loopback connections the kernel floor writes to, before connecting (0: skip the floor)")
	fs.IntVar(&c.floorBursts, "floor-bursts", 200, "bursts of one write per floor connection")
	fs.DurationVar(&c.settle, "settle", time.Second, "wait after the last connection before reading the connected RSS")
	fs.DurationVar(&c.drain, "drain", 10*time.Second, "wait after the last publish for stragglers before counting them lost")
	fs.StringVar(&c.jsonPath, "json", "", "also write the results as JSON to this file")
	fs.StringVar(&c.label, "label", "", "name of the server under test, carried into the JSON (for compare)")
	fs.BoolVar(&c.quiet, "quiet", false, "no progress line")
	fs.BoolVar(&c.publishRedial, "publish-redial", false, "publish one event at a time, and dial again when the server closes the publish connection (a binary upgrade during the run)")
	fs.DurationVar(&c.idle, "idle", 0, "after connecting, measure the server's CPU this long with nothing published (needs --server-pid; 0: skip)")
	fs.DurationVar(&c.heartbeat, "heartbeat", 0, "the server's heartbeat interval, to give --idle's CPU per heartbeat (0: not known)")
	fs.BoolVar(&c.storm, "storm", false, "reconnect storm: once every stream has --storm-after events, drop them all at once and reconnect each with Last-Event-ID while the events go on (storm.go)")
	fs.IntVar(&c.stormAfter, "storm-after", 0, "events every stream has before the drop (0: a quarter of --events, at least 1)")
	fs.IntVar(&c.stormConc, "storm-concurrency", 0, "reconnects in flight per worker after the drop (0: --concurrency; a worker's whole share: all at once)")
	fs.DurationVar(&c.stormSample, "storm-sample", 250*time.Millisecond, "how often the server's listen queues, memory and sockets are read during the storm")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("ssedge-load: unexpected argument %q", fs.Arg(0))
	}

	var err error
	if c.url, err = url.Parse(*rawURL); err != nil || c.url.Scheme != "http" || c.url.Host == "" {
		return nil, fmt.Errorf("ssedge-load: --url %q: want http://HOST:PORT/PATH", *rawURL)
	}
	if c.target, err = resolveTarget(c.url); err != nil {
		return nil, err
	}
	if c.channel == "" {
		c.channel = c.url.Query().Get("channel")
	}
	switch {
	case c.channel == "":
		return nil, errors.New("ssedge-load: no channel: give --channel or channel= in --url")
	case (c.publishSocket == "") == (c.publishURL == ""):
		return nil, errors.New("ssedge-load: give exactly one of --publish-socket and --publish-url")
	case c.conns < 1:
		return nil, fmt.Errorf("ssedge-load: --conns %d: want at least 1", c.conns)
	case c.events < 1 || c.events > 1<<20:
		return nil, fmt.Errorf("ssedge-load: --events %d: want 1 to %d", c.events, 1<<20)
	case c.concurrency < 1:
		return nil, fmt.Errorf("ssedge-load: --concurrency %d: want at least 1", c.concurrency)
	case c.size < 0 || c.size > 1<<20:
		return nil, fmt.Errorf("ssedge-load: --size %d: want 0 to 1 MiB", c.size)
	case c.floorPairs < 0 || c.floorPairs > 5000:
		return nil, fmt.Errorf("ssedge-load: --floor-pairs %d: want 0 to 5000", c.floorPairs)
	case c.floorPairs > 0 && c.floorBursts < 1:
		return nil, fmt.Errorf("ssedge-load: --floor-bursts %d: want at least 1", c.floorBursts)
	}
	if err := c.checkStorm(); err != nil {
		return nil, err
	}
	if c.procs == 0 {
		c.procs = min(c.conns, max(2, ceilDiv(c.conns, autoConnsPerWorker)))
	}
	if per := ceilDiv(c.conns, c.procs); c.procs < 1 || per > maxConnsPerWorker {
		return nil, fmt.Errorf("ssedge-load: --procs %d for %d connections: want at least %d (a worker holds at most %d)",
			c.procs, c.conns, ceilDiv(c.conns, maxConnsPerWorker), maxConnsPerWorker)
	}
	if *nSrc == 0 && c.target.Addr().IsLoopback() {
		*nSrc = ceilDiv(c.conns, connsPerSrcAddr)
	}
	if c.srcAddrs, err = sourceAddrs(*srcBase, *nSrc); err != nil {
		return nil, err
	}
	c.run = rand.Uint64() >> 11 // below 2^53, readable anywhere
	return c, nil
}

// resolveTarget turns the URL's host into the IPv4 address and port the
// workers connect to.
func resolveTarget(u *url.URL) (netip.AddrPort, error) {
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = "80"
	}
	addr, err := net.ResolveTCPAddr("tcp4", net.JoinHostPort(host, port))
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("ssedge-load: --url host %q: %w", u.Host, err)
	}
	ap := addr.AddrPort()
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
}

// sourceAddrs counts n IPv4 addresses up from base, skipping .0 and .255
// in the last byte.
func sourceAddrs(base string, n int) ([]string, error) {
	a, err := netip.ParseAddr(base)
	if err != nil || !a.Is4() {
		return nil, fmt.Errorf("ssedge-load: --src-base %q: want an IPv4 address", base)
	}
	addrs := make([]string, 0, n)
	for len(addrs) < n {
		if b := a.As4(); b[3] != 0 && b[3] != 255 {
			addrs = append(addrs, a.String())
		}
		if a = a.Next(); !a.IsValid() || !a.Is4() {
			return nil, fmt.Errorf("ssedge-load: --src-addrs %d: ran out of addresses after %s", n, base)
		}
	}
	return addrs, nil
}

// request is the GET each subscription sends.
func (c *config) request() string {
	return "GET " + c.url.RequestURI() + " HTTP/1.1\r\nHost: " + c.url.Host + "\r\nAccept: text/event-stream\r\nUser-Agent: ssedge-load\r\n\r\n"
}

// jobs splits the connections over the workers.
func (c *config) jobs() []*workerJob {
	jobs := make([]*workerJob, c.procs)
	first := 0
	for i := range jobs {
		count := c.conns / c.procs
		if i < c.conns%c.procs {
			count++
		}
		jobs[i] = &workerJob{
			Target:           c.target.String(),
			Request:          c.request(),
			First:            first,
			Count:            count,
			SrcAddrs:         c.srcAddrs,
			Concurrency:      c.concurrency,
			ConnectTimeoutNs: c.connectTimeout.Nanoseconds(),
			Events:           c.events,
			Run:              c.run,
			StormConcurrency: c.stormConc,
		}
		first += count
	}
	return jobs
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }
