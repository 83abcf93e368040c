package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// The generated region of a markdown file: report-md --into rewrites what
// lies between these lines and nothing else, so hand-written sections
// around it (docs/BENCH.md's 200k section) survive a new run.
const (
	reportBegin = "<!-- BEGIN ssedge-load report-md: written by bench/run.sh; change the generator (cmd/ssedge-load/reportmd.go), not this region -->"
	reportEnd   = "<!-- END ssedge-load report-md -->"
)

var errNoMarkers = errors.New("ssedge-load report-md: no generated region")

// reportOptions are report-md's flags.
type reportOptions struct {
	command    string   // how the results were made, quoted
	peers      string   // what the peers were, for the machine table
	self       string   // label the targets are about
	chart      string   // SVG to embed, relative to the markdown file
	resultsDir string   // where the JSON files were
	notes      []string // lines under the machine table
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, "\n") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// reportMDMain writes the markdown report of a set of results.
func reportMDMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ssedge-load report-md", flag.ContinueOnError)
	fs.SetOutput(stderr)
	into := fs.String("into", "", "rewrite the generated region of this markdown file (between its BEGIN and END markers) instead of printing")
	var o reportOptions
	fs.StringVar(&o.command, "command", "", "the command that made the results, quoted in the report")
	fs.StringVar(&o.peers, "peers", "", "what the peers were (versions), for the machine table")
	fs.StringVar(&o.self, "self", "ssedge", "label of the server the targets are about")
	fs.StringVar(&o.chart, "chart", "", "SVG chart to embed, as a path relative to the markdown file")
	var notes multiFlag
	fs.Var(&notes, "note", "a line to print under the machine table (repeats)")
	results, code := parseResults(fs, args, stderr, "usage: ssedge-load report-md [--into FILE.md] [--command CMD] [--peers TEXT] [--chart FILE.svg] RESULT.json...")
	if results == nil {
		return code
	}
	o.notes = notes
	o.resultsDir = commonDir(fs.Args())
	md := renderReport(results, o)
	if *into == "" {
		io.WriteString(stdout, md)
		return 0
	}
	if err := spliceFile(*into, md); err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	return 0
}

// spliceFile puts md into path's generated region. A file that does not
// exist yet is created with a title and the region; a file without the
// markers is refused rather than overwritten.
func spliceFile(path, md string) error {
	old, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return os.WriteFile(path, []byte("# Benchmark\n\n"+reportBegin+"\n"+md+reportEnd+"\n"), 0o644)
	}
	if err != nil {
		return err
	}
	doc, err := splice(old, md)
	if err != nil {
		return fmt.Errorf("%w in %s: want the lines %q and %q around it", err, path, reportBegin, reportEnd)
	}
	return os.WriteFile(path, doc, 0o644)
}

// splice replaces what lies between the marker lines of doc with md.
func splice(doc []byte, md string) ([]byte, error) {
	b := bytes.Index(doc, []byte(reportBegin+"\n"))
	e := bytes.Index(doc, []byte(reportEnd))
	if b < 0 || e < b {
		return nil, errNoMarkers
	}
	b += len(reportBegin) + 1
	out := slices.Concat(doc[:b:b], []byte(md), doc[e:])
	return out, nil
}

func commonDir(paths []string) string {
	if len(paths) == 0 {
		return ""
	}
	dir := filepath.Dir(paths[0])
	for _, p := range paths[1:] {
		if filepath.Dir(p) != dir {
			return ""
		}
	}
	return dir
}

// displayNames are how the report names the usual labels.
var displayNames = map[string]string{"ssedge": "ssedge", "nethttp": "net/http", "nchan": "Nchan"}

func displayName(label string) string {
	if n, ok := displayNames[label]; ok {
		return n
	}
	return label
}

// labelOrder puts self first, then the usual peers, then the rest.
func labelOrder(labels []string, self string) []string {
	rank := func(l string) int {
		switch l {
		case self:
			return 0
		case "nethttp":
			return 1
		case "nchan":
			return 2
		}
		return 3
	}
	out := slices.Clone(labels)
	slices.SortStableFunc(out, func(a, b string) int { return rank(a) - rank(b) })
	return out
}

// report is the matrix of results the markdown is made from.
type report struct {
	o      reportOptions
	keys   []groupKey
	labels []string // self first
	peers  []string // labels but self
	groups map[groupKey]map[string][]*result
	conns  []int
	rates  []float64
	all    []*result
}

func newReport(results []*result, o reportOptions) *report {
	keys, labels, groups := groupResults(results)
	rp := &report{o: o, keys: keys, labels: labelOrder(labels, o.self), groups: groups, all: results}
	for _, l := range rp.labels {
		if l != o.self {
			rp.peers = append(rp.peers, l)
		}
	}
	for _, k := range keys {
		if !slices.Contains(rp.conns, k.conns) {
			rp.conns = append(rp.conns, k.conns)
		}
		if !slices.Contains(rp.rates, k.rate) {
			rp.rates = append(rp.rates, k.rate)
		}
	}
	slices.Sort(rp.rates)
	return rp
}

// cell is the median of get over label's runs in k, NaN when there are none.
func (rp *report) cell(k groupKey, label string, get func(*result) float64) float64 {
	rs := rp.groups[k][label]
	if len(rs) == 0 {
		return math.NaN()
	}
	return median(rs, get)
}

// atConns is the median of get over label's runs at n conns, any rate.
func (rp *report) atConns(n int, label string, get func(*result) float64) float64 {
	var rs []*result
	for _, k := range rp.keys {
		if k.conns == n {
			rs = append(rs, rp.groups[k][label]...)
		}
	}
	if len(rs) == 0 {
		return math.NaN()
	}
	return median(rs, get)
}

func renderReport(results []*result, o reportOptions) string {
	rp := newReport(results, o)
	var b strings.Builder
	rp.writeIntro(&b)
	rp.writeMachine(&b)
	rp.writeHeadline(&b)
	rp.writeTargets(&b)
	rp.writeChart(&b)
	rp.writeUnclean(&b)
	rp.writeCells(&b)
	rp.writeMethod(&b)
	return b.String()
}

func (rp *report) writeIntro(b *strings.Builder) {
	first, last := rp.all[0].StartedAt, rp.all[0].StartedAt
	runsPerCell, events := 0, map[int]bool{}
	for _, r := range rp.all {
		if r.StartedAt.Before(first) {
			first = r.StartedAt
		}
		if r.StartedAt.After(last) {
			last = r.StartedAt
		}
		events[r.Events] = true
	}
	for _, g := range rp.groups {
		for _, rs := range g {
			runsPerCell = max(runsPerCell, len(rs))
		}
	}
	names := make([]string, len(rp.labels))
	for i, l := range rp.labels {
		names[i] = displayName(l)
	}
	ev := slices.Sorted(maps.Keys(events))
	fmt.Fprintf(b, "\n%d runs between %s and %s UTC: %s, each server started fresh for every run, at %s connections and %s events/s, %s events of %d data bytes per run to every subscriber, %s per server and cell.",
		len(rp.all), first.UTC().Format("2006-01-02 15:04"), last.UTC().Format("15:04"), strings.Join(names, ", "),
		joinInts(rp.conns, fmtConns), joinFloats(rp.rates), joinInts(ev, func(n int) string { return fmt.Sprint(n) }), rp.all[0].SizeBytes, fmtRuns(runsPerCell))
	if rp.o.resultsDir != "" {
		fmt.Fprintf(b, " Results: `%s/` (not committed).", rp.o.resultsDir)
	}
	b.WriteString("\n")
	if rp.o.command != "" {
		fmt.Fprintf(b, "\n```sh\n%s\n```\n", rp.o.command)
	}
}

func (rp *report) writeMachine(b *strings.Builder) {
	m := rp.all[0].Machine
	var loadMin, loadMax float64 = math.Inf(1), math.Inf(-1)
	for _, r := range rp.all {
		loadMin, loadMax = min(loadMin, r.Machine.LoadAvg1), max(loadMax, r.Machine.LoadAvg1)
	}
	b.WriteString("\n## Machine\n\n| | |\n|---|---|\n")
	fmt.Fprintf(b, "| CPUs | %d (`nproc`), %s |\n", m.CPUs, orDash(m.CPUModel))
	fmt.Fprintf(b, "| Kernel | `%s` |\n", orDash(m.Kernel))
	fmt.Fprintf(b, "| Memory | %.1f GiB |\n", float64(m.MemBytes)/(1<<30))
	fmt.Fprintf(b, "| Open files | soft %d, hard %d per process (`ulimit -Sn`, `ulimit -Hn`) |\n", m.NofileSoft, m.NofileHard)
	fmt.Fprintf(b, "| Load average before each run | %.2f to %.2f (1 min) |\n", loadMin, loadMax)
	if rp.o.peers != "" {
		fmt.Fprintf(b, "| Peers | %s |\n", rp.o.peers)
	}
	fmt.Fprintf(b, "\nThe load generator (its worker processes and the publisher) runs on the same %d CPUs as the server under test, so every figure includes that contention.\n", m.CPUs)
	for _, n := range rp.o.notes {
		fmt.Fprintf(b, "%s\n", n)
	}
}

// headlineRow is one row of the headline: a figure per server at the
// largest connection count.
type headlineRow struct {
	name    string
	get     func(label string) float64
	format  func(float64) string
	noRatio bool
}

func (rp *report) writeHeadline(b *strings.Builder) {
	n := slices.Max(rp.conns)
	fmt.Fprintf(b, "\n## Headline: %s connections\n\n", fmtThousands(n))
	var rows []headlineRow
	rows = append(rows, headlineRow{name: "RSS per idle connection, KiB", format: f2,
		get: func(l string) float64 { return rp.atConns(n, l, rssKiB) }})
	for _, rate := range rp.rates {
		k := groupKey{n, rate}
		rows = append(rows, headlineRow{name: fmt.Sprintf("server CPU per delivery, µs, %s ev/s", fmtRate(rate)), format: f2,
			get: func(l string) float64 { return rp.cell(k, l, cpuUs) }})
	}
	for _, rate := range rp.rates {
		k := groupKey{n, rate}
		rows = append(rows, headlineRow{name: fmt.Sprintf("CPU per delivery / kernel floor, %s ev/s", fmtRate(rate)), format: f2, noRatio: true,
			get: func(l string) float64 { return rp.cell(k, l, overFloor) }})
	}
	rows = append(rows, headlineRow{name: "kernel floor, µs per write (same runs)", format: f2, noRatio: true,
		get: func(l string) float64 { return rp.atConns(n, l, floorUs) }})
	for _, rate := range rp.rates {
		k := groupKey{n, rate}
		rows = append(rows, headlineRow{name: fmt.Sprintf("last subscriber, ms (p50 over events), %s ev/s", fmtRate(rate)), format: fms,
			get: func(l string) float64 { return rp.cell(k, l, lastP50) }})
	}
	rp.writeTable(b, "", rows)
	fmt.Fprintf(b, "\nThe kernel floor is the load generator's own CPU time per %d-byte write to a loopback socket whose reader sleeps in epoll_wait (see below); each run measures it before connecting.\n", rp.all[0].Floor.writeBytesOr(sseFrameBytes(rp.all[0].SizeBytes)))
}

func (f *kernelFloor) writeBytesOr(def int) int {
	if f == nil {
		return def
	}
	return f.WriteBytes
}

// writeTable prints rows with a column per label and a ratio column
// self/peer for every peer.
func (rp *report) writeTable(b *strings.Builder, corner string, rows []headlineRow) {
	fmt.Fprintf(b, "| %s |", corner)
	for _, l := range rp.labels {
		fmt.Fprintf(b, " %s |", displayName(l))
	}
	for _, p := range rp.peers {
		fmt.Fprintf(b, " %s / %s |", displayName(rp.o.self), displayName(p))
	}
	b.WriteString("\n|---|")
	b.WriteString(strings.Repeat("---:|", len(rp.labels)+len(rp.peers)))
	b.WriteString("\n")
	for _, row := range rows {
		fmt.Fprintf(b, "| %s |", row.name)
		for _, l := range rp.labels {
			fmt.Fprintf(b, " %s |", fmtOrDash(row.get(l), row.format))
		}
		self := row.get(rp.o.self)
		for _, p := range rp.peers {
			if row.noRatio {
				b.WriteString(" |")
				continue
			}
			fmt.Fprintf(b, " %s |", fmtOrDash(self/row.get(p), f2))
		}
		b.WriteString("\n")
	}
}

// check is one figure held against a target: met when value <= limit.
type check struct {
	where        string
	value, limit float64
	shown        string // value as printed; formatted from value when empty
	deviation    bool   // value is itself a distance from a target: no "% over" note
}

// verdict says whether every check met its limit and, where not, by how much.
func verdict(checks []check, format func(float64) string) string {
	var missed, met []check
	for _, c := range checks {
		if math.IsNaN(c.value) {
			continue
		}
		if c.shown == "" {
			c.shown = format(c.value)
		}
		if c.value <= c.limit {
			met = append(met, c)
		} else {
			missed = append(missed, c)
		}
	}
	list := func(cs []check, over bool) string {
		parts := make([]string, len(cs))
		for i, c := range cs {
			parts[i] = c.where + ": " + c.shown
			if over && !c.deviation {
				parts[i] += " (" + fmtOver(c.value/c.limit-1) + " over)"
			}
		}
		return strings.Join(parts, "; ")
	}
	switch {
	case len(met)+len(missed) == 0:
		return "not measured (no results for it)"
	case len(missed) == 0:
		return "**met** (" + list(met, false) + ")"
	case len(met) == 0:
		return "**missed** (" + list(missed, true) + ")"
	}
	return fmt.Sprintf("**missed** in %d of %d: %s. Met: %s", len(missed), len(missed)+len(met), list(missed, true), list(met, false))
}

func (rp *report) writeTargets(b *strings.Builder) {
	self := rp.o.self
	b.WriteString("\n## Against the targets\n\nEach figure is from this run; a cell is a connection count and an event rate.\n\n")
	perConns := func(get func(n int) (float64, float64)) []check {
		var cs []check
		for _, n := range rp.conns {
			v, limit := get(n)
			cs = append(cs, check{where: fmtConns(n), value: v, limit: limit})
		}
		return cs
	}
	perCell := func(keys []groupKey, get func(k groupKey) float64, limit float64) []check {
		var cs []check
		for _, k := range keys {
			cs = append(cs, check{where: fmtCell(k), value: get(k), limit: limit})
		}
		return cs
	}
	fmt.Fprintf(b, "- User-space RSS per idle connection under 1 KiB: %s.\n", verdict(perConns(func(n int) (float64, float64) {
		return rp.atConns(n, self, rssKiB), 1
	}), func(v float64) string { return f2(v) + " KiB" }))
	if slices.Contains(rp.peers, "nethttp") {
		fmt.Fprintf(b, "- RSS per connection under 1/20 of net/http's: %s.\n", verdict(perConns(func(n int) (float64, float64) {
			return rp.atConns(n, self, rssKiB) / rp.atConns(n, "nethttp", rssKiB), 1.0 / 20
		}), f3))
	}
	for _, p := range rp.peers {
		fmt.Fprintf(b, "- Server CPU per delivery at most 1/2 of %s's: %s.\n", displayName(p), verdict(perCell(rp.keys, func(k groupKey) float64 {
			return rp.cell(k, self, cpuUs) / rp.cell(k, p, cpuUs)
		}, 0.5), f2))
	}
	fmt.Fprintf(b, "- Server CPU per delivery within 1.5x of the kernel floor (one loopback write, measured in the same run): %s.\n",
		verdict(perCell(rp.keys, func(k groupKey) float64 { return rp.cell(k, self, overFloor) }, 1.5), func(v float64) string { return f2(v) + "x" }))
	if slices.Contains(rp.peers, "nchan") {
		n := slices.Max(rp.conns)
		var keys []groupKey
		for _, rate := range rp.rates {
			keys = append(keys, groupKey{n, rate})
		}
		fmt.Fprintf(b, "- Time to the last of %s subscribers (p50 over events) at most 1/2 of Nchan's: %s.\n", fmtThousands(n),
			verdict(perCell(keys, func(k groupKey) float64 { return rp.cell(k, self, lastP50) / rp.cell(k, "nchan", lastP50) }, 0.5), f2))
	}
	if len(rp.conns) > 1 {
		var vals []float64
		for _, n := range rp.conns {
			vals = append(vals, rp.atConns(n, self, rssKiB))
		}
		mean := 0.0
		for _, v := range vals {
			mean += v / float64(len(vals))
		}
		var cs []check
		for i, n := range rp.conns {
			dev := vals[i]/mean - 1
			cs = append(cs, check{where: fmtConns(n), value: math.Abs(dev), limit: 0.10, deviation: true,
				shown: fmt.Sprintf("%s KiB, %+.0f%% from the mean of %s KiB", f2(vals[i]), dev*100, f2(mean))})
		}
		fmt.Fprintf(b, "- Memory per connection flat (±10%%) from %s to %s: %s. 200k: see its own section.\n",
			fmtConns(rp.conns[0]), fmtConns(rp.conns[len(rp.conns)-1]), verdict(cs, f2))
	}
}

func (rp *report) writeChart(b *strings.Builder) {
	if rp.o.chart == "" {
		return
	}
	fmt.Fprintf(b, "\n![Memory per connection and time to the last subscriber against the number of connections, one line per server](%s)\n\n"+
		"Left: RSS per idle connection (median over the runs at each count). Right: time from publish to the last subscriber, p50 over the events of the %s runs. Both axes of values are logarithmic. Made by `ssedge-load chart` from the same JSON files.\n",
		rp.o.chart, fmtEventsPerS(rp.rates[0]))
}

// writeUnclean lists the runs that lost, duplicated or reordered
// anything, or that could not take events at the asked rate.
func (rp *report) writeUnclean(b *strings.Builder) {
	var lines []string
	for _, k := range rp.keys {
		for _, l := range rp.labels {
			for _, r := range rp.groups[k][l] {
				if !r.OK {
					lines = append(lines, fmt.Sprintf("- %s at %s: %s.", displayName(l), fmtCell(k), strings.Join(r.Problems, "; ")))
				}
				if r.RatePerS > 0 && r.PublishedPerS > 0 && r.PublishedPerS < 0.9*r.RatePerS {
					lines = append(lines, fmt.Sprintf("- %s at %s: the publisher could send only %.1f events/s (the server did not read its requests).",
						displayName(l), fmtCell(k), r.PublishedPerS))
				}
			}
		}
	}
	b.WriteString("\n## Runs that were not clean\n\n")
	if len(lines) == 0 {
		b.WriteString("None: every run delivered every event to every subscriber once, in order, with the published id, at the asked rate.\n")
		return
	}
	b.WriteString(strings.Join(lines, "\n") + "\n")
}

// cellRows are the rows of every cell's table.
var cellRows = []struct {
	name    string
	get     func(*result) float64
	format  func(float64) string
	noRatio bool
}{
	{"RSS per idle connection, KiB", rssKiB, f2, false},
	{"server CPU per delivery, µs", cpuUs, f2, false},
	{"kernel floor, µs per write", floorUs, f2, true},
	{"CPU per delivery / floor", overFloor, f2, true},
	{"one socket hot, µs per write", func(r *result) float64 { return floorField(r, func(f *kernelFloor) float64 { return f.HotWriteUs }) }, f2, true},
	{"null syscall, µs", func(r *result) float64 { return floorField(r, func(f *kernelFloor) float64 { return f.NullSyscallUs }) }, f2, true},
	{"first subscriber, ms", func(r *result) float64 { return r.All.FirstMs }, fms, false},
	{"p50 subscriber, ms", func(r *result) float64 { return r.All.P50Ms }, fms, false},
	{"p99 subscriber, ms", func(r *result) float64 { return r.All.P99Ms }, fms, false},
	{"last subscriber, ms (p50 over events)", lastP50, fms, false},
	{"last subscriber, ms (worst event)", func(r *result) float64 { return r.All.LastMs }, fms, false},
	{"events published per s", func(r *result) float64 { return r.PublishedPerS }, f1, true},
	{"publish answered after, ms (p50)", func(r *result) float64 { return r.PublishRTTP50Ms }, fms, false},
	{"publish answered after, ms (max)", func(r *result) float64 { return r.PublishRTTMaxMs }, fms, false},
	{"deliveries lost", func(r *result) float64 { return float64(r.Lost) }, f0, true},
	{"connect rate, conns/s", func(r *result) float64 { return r.ConnectRate }, f0, true},
	{"server processes measured", func(r *result) float64 { return float64(r.ServerProcs) }, f0, true},
}

func (rp *report) writeCells(b *strings.Builder) {
	b.WriteString("\n## All results\n")
	for _, k := range rp.keys {
		fmt.Fprintf(b, "\n### %s connections, %s\n\n", fmtThousands(k.conns), fmtEventsPerS(k.rate))
		var rows []headlineRow
		for _, cr := range cellRows {
			rows = append(rows, headlineRow{name: cr.name, format: cr.format, noRatio: cr.noRatio,
				get: func(l string) float64 { return rp.cell(k, l, cr.get) }})
		}
		rp.writeTable(b, "", rows)
	}
}

func (rp *report) writeMethod(b *strings.Builder) {
	b.WriteString(`
## How the figures are made

- **RSS per idle connection**: the server's VmRSS once every subscriber is
  connected and idle, minus VmRSS before the first connection, over the
  connections. The server is the process given to ` + "`--server-pid`" + ` and all
  its descendants, summed (ssedge and the net/http peer: one process; Nchan:
  nginx's master and its one worker).
- **Publishing**: one keep-alive HTTP connection to the server's publish
  endpoint, pipelined: each event is sent when its time comes, whether or
  not earlier events were answered, so every server gets the asked rate and
  one that falls behind shows it in its delivery times and its late answers.
- **Server CPU per delivery**: the server's on-CPU time over the publish
  phase (from publishing the first event until every subscriber has every
  event, or the drain timeout), from ` + "`/proc/PID/task/*/schedstat`" + `, over the
  deliveries. On loopback it includes the kernel's work for both ends of
  every socket that runs on the server's CPU. When an event comes before
  the previous one has reached every subscriber (10 and 50 events/s at 5k
  and 15k connections), a server can hand one connection several frames in
  one write, and its CPU per delivery can then fall below the one-write
  floor; the 1 event/s cells compare one write per delivery.
- **Kernel floor**: before connecting, the load generator opens 200
  loopback TCP connections to itself (TCP_NODELAY), one thread sleeping in
  epoll_wait on the reading ends, and from another thread writes one
  SSE-frame-sized message to each connection in turn, in bursts, the way one
  event goes to many subscribers. The floor is that writer thread's CPU time
  (` + "`CLOCK_THREAD_CPUTIME_ID`" + `, the clock schedstat reports) per write. It is the
  least one delivery can cost here; "one socket hot" in the tool's table (the
  same write repeated to one socket) is the best case, not the floor.
- **Time to the last subscriber**: from the publish call to the arrival of
  the event at the last of the N connections; the headline takes the median
  of that over the run's events. First, p50 and p99 are over every delivery
  of every event.
- Every run checks every connection got every event once, in order, with
  the id the publisher was given; a run that did not is listed above.
`)
}

func rssKiB(r *result) float64 { return r.RSSPerConnBytes / 1024 }
func cpuUs(r *result) float64  { return r.CPUPerDeliveryUs }
func overFloor(r *result) float64 {
	if r.CPUPerDeliveryOverFloor == 0 {
		return math.NaN()
	}
	return r.CPUPerDeliveryOverFloor
}
func lastP50(r *result) float64 { return r.LastP50Ms }

func floorField(r *result, get func(*kernelFloor) float64) float64 {
	if r.Floor == nil {
		return math.NaN()
	}
	return get(r.Floor)
}

func f0(v float64) string { return fmt.Sprintf("%.0f", v) }
func f1(v float64) string { return fmt.Sprintf("%.1f", v) }
func f2(v float64) string { return fmt.Sprintf("%.2f", v) }
func f3(v float64) string { return fmt.Sprintf("%.3f", v) }

// fms prints milliseconds with three significant digits or more.
func fms(v float64) string {
	if v >= 100 {
		return fmt.Sprintf("%.0f", v)
	}
	if v >= 10 {
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

// fmtOver prints how far past its limit a figure is, as a percentage.
func fmtOver(frac float64) string {
	if frac < 0.01 {
		return fmt.Sprintf("%.1f%%", frac*100)
	}
	return fmt.Sprintf("%.0f%%", frac*100)
}

func fmtOrDash(v float64, format func(float64) string) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "-"
	}
	return format(v)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func fmtRuns(n int) string {
	if n == 1 {
		return "one run"
	}
	return fmt.Sprintf("%d runs (the figures are their medians)", n)
}

func fmtEventsPerS(r float64) string {
	if r == 1 {
		return "1 event/s"
	}
	return fmtRate(r) + " events/s"
}

func fmtRate(r float64) string { return fmt.Sprintf("%.4g", r) }

func fmtConns(n int) string {
	if n%1000 == 0 {
		return fmt.Sprintf("%dk", n/1000)
	}
	return fmt.Sprint(n)
}

func fmtCell(k groupKey) string { return fmtConns(k.conns) + ", " + fmtRate(k.rate) + " ev/s" }

// fmtThousands prints n with a comma between thousands: 15,000.
func fmtThousands(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func joinInts(v []int, format func(int) string) string {
	parts := make([]string, len(v))
	for i, n := range v {
		parts[i] = format(n)
	}
	return joinList(parts)
}

func joinFloats(v []float64) string {
	parts := make([]string, len(v))
	for i, f := range v {
		parts[i] = fmtRate(f)
	}
	return joinList(parts)
}

// joinList is "a", "a and b", "a, b and c".
func joinList(parts []string) string {
	if len(parts) <= 1 {
		return strings.Join(parts, "")
	}
	return strings.Join(parts[:len(parts)-1], ", ") + " and " + parts[len(parts)-1]
}
