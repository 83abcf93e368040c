package main

import (
	"cmp"
	"flag"
	"fmt"
	"html"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
)

// chartMain draws docs/bench.svg: two panels against the number of
// connections, one line per server: RSS per idle connection, and the time
// from publish to the last subscriber. Plain SVG written here, so the
// chart needs nothing but this binary and the JSON files.
func chartMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ssedge-load chart", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "write the SVG to this file (default: stdout)")
	rate := fs.Float64("rate", 0, "events/s of the runs whose latency is drawn (0: the lowest rate in the results)")
	self := fs.String("self", "ssedge", "label drawn first")
	results, code := parseResults(fs, args, stderr, "usage: ssedge-load chart [--out FILE.svg] [--rate R] RESULT.json...")
	if results == nil {
		return code
	}
	svg := renderChart(newReport(results, reportOptions{self: *self}), *rate)
	if *out == "" {
		io.WriteString(stdout, svg)
		return 0
	}
	if err := os.WriteFile(*out, []byte(svg), 0o644); err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	return 0
}

// chartColors are the lines' colours, by label; other labels take grey.
var chartColors = map[string]string{"ssedge": "#1f6fb4", "nethttp": "#d62728", "nchan": "#2ca02c"}

const (
	chartW, chartH   = 960, 430
	panelW           = chartW / 2
	plotLeft         = 70 // from a panel's left edge
	plotRight        = 30
	plotTop, plotBot = 96, 370
)

// series is one server's points in one panel.
type series struct {
	label string
	x, y  []float64
}

func renderChart(rp *report, rate float64) string {
	if rate == 0 {
		rate = rp.rates[0]
	}
	var mem, last []series
	for _, l := range rp.labels {
		m, t := series{label: l}, series{label: l}
		for _, n := range rp.conns {
			if v := rp.atConns(n, l, rssKiB); v > 0 {
				m.x, m.y = append(m.x, float64(n)), append(m.y, v)
			}
			if v := rp.cell(groupKey{n, rate}, l, lastP50); v > 0 {
				t.x, t.y = append(t.x, float64(n)), append(t.y, v)
			}
		}
		mem, last = append(mem, m), append(last, t)
	}

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n",
		chartW, chartH, chartW, chartH)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", chartW, chartH)
	m := rp.all[0].Machine
	fmt.Fprintf(&b, `<text x="%d" y="24" font-size="16" text-anchor="middle">%s</text>`+"\n", chartW/2,
		esc(fmt.Sprintf("One event to every subscriber, %d data bytes; %d CPUs shared with the load generator; %s",
			rp.all[0].SizeBytes, m.CPUs, rp.all[0].StartedAt.UTC().Format("2006-01-02"))))
	// Legend.
	x := chartW/2 - 110*len(rp.labels)/2
	for _, l := range rp.labels {
		fmt.Fprintf(&b, `<line x1="%d" y1="46" x2="%d" y2="46" stroke="%s" stroke-width="3"/><circle cx="%d" cy="46" r="4" fill="%s"/>`,
			x, x+28, chartColor(l), x+14, chartColor(l))
		fmt.Fprintf(&b, `<text x="%d" y="50">%s</text>`+"\n", x+34, esc(displayName(l)))
		x += 110
	}
	maxN := float64(slices.Max(rp.conns))
	drawPanel(&b, 0, "RSS per idle connection, KiB (log scale)", maxN, mem, f2)
	drawPanel(&b, panelW, fmt.Sprintf("Time to the last subscriber, ms (log), %s ev/s", fmtRate(rate)), maxN, last, fms)
	b.WriteString("</svg>\n")
	return b.String()
}

// drawPanel draws one panel whose left edge is at left: linear x from 0
// to maxN connections, logarithmic y.
func drawPanel(b *strings.Builder, left int, title string, maxN float64, ss []series, format func(float64) string) {
	x0, x1 := float64(left+plotLeft), float64(left+panelW-plotRight)
	y0, y1 := float64(plotBot), float64(plotTop) // y0 is the bottom
	fmt.Fprintf(b, `<text x="%.0f" y="%d" font-size="13" text-anchor="middle">%s</text>`+"\n", (x0+x1)/2, plotTop-14, esc(title))

	var all []float64
	for _, s := range ss {
		all = append(all, s.y...)
	}
	if len(all) == 0 {
		fmt.Fprintf(b, `<text x="%.0f" y="%.0f" text-anchor="middle">no data</text>`+"\n", (x0+x1)/2, (y0+y1)/2)
		return
	}
	lo, hi := logDomain(slices.Min(all), slices.Max(all))
	xAt := func(n float64) float64 { return x0 + n/(maxN*1.08)*(x1-x0) }
	yAt := func(v float64) float64 {
		return y0 - (math.Log10(v)-math.Log10(lo))/(math.Log10(hi)-math.Log10(lo))*(y0-y1)
	}

	for _, t := range logTicks(lo, hi) {
		y := yAt(t)
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/>`, x0, y, x1, y)
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="end" fill="#555">%s</text>`+"\n", x0-6, y+4, esc(fmt.Sprintf("%g", t)))
	}
	var ns []float64
	for _, s := range ss {
		for _, n := range s.x {
			if !slices.Contains(ns, n) {
				ns = append(ns, n)
			}
		}
	}
	for _, n := range ns {
		x := xAt(n)
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#555"/>`, x, y0, x, y0+5)
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle" fill="#555">%s</text>`+"\n", x, y0+19, esc(fmtConns(int(n))))
	}
	fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#555"/><line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#555"/>`+"\n",
		x0, y0, x1, y0, x0, y0, x0, y1)
	fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle" fill="#555">connections</text>`+"\n", (x0+x1)/2, y0+40)

	var labels []pointLabel
	for _, s := range ss {
		if len(s.x) == 0 {
			continue
		}
		c := chartColor(s.label)
		pts := make([]string, len(s.x))
		for i := range s.x {
			pts[i] = fmt.Sprintf("%.1f,%.1f", xAt(s.x[i]), yAt(s.y[i]))
		}
		fmt.Fprintf(b, `<polyline fill="none" stroke="%s" stroke-width="2.5" points="%s"/>`+"\n", c, strings.Join(pts, " "))
		for i := range s.x {
			x, y := xAt(s.x[i]), yAt(s.y[i])
			fmt.Fprintf(b, `<circle cx="%.1f" cy="%.1f" r="4" fill="%s"><title>%s</title></circle>`+"\n", x, y, c,
				esc(fmt.Sprintf("%s, %s connections: %s", displayName(s.label), fmtThousands(int(s.x[i])), format(s.y[i]))))
			labels = append(labels, pointLabel{x: x + 6, y: y - 6, color: c, text: format(s.y[i])})
		}
	}
	for _, l := range spreadLabels(labels, 12) {
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" font-size="11" fill="%s" stroke="white" stroke-width="3" paint-order="stroke">%s</text>`+"\n", l.x, l.y, l.color, esc(l.text))
	}
}

// pointLabel is the value printed beside a point.
type pointLabel struct {
	x, y  float64
	color string
	text  string
}

// spreadLabels moves labels at the same x apart vertically so that no two
// are closer than gap, keeping their order.
func spreadLabels(ls []pointLabel, gap float64) []pointLabel {
	out := slices.Clone(ls)
	slices.SortStableFunc(out, func(a, b pointLabel) int {
		if c := cmp.Compare(a.x, b.x); c != 0 {
			return c
		}
		return cmp.Compare(a.y, b.y)
	})
	for i := 1; i < len(out); i++ {
		if out[i].x == out[i-1].x && out[i].y-out[i-1].y < gap {
			out[i].y = out[i-1].y + gap
		}
	}
	return out
}

func chartColor(label string) string {
	if c, ok := chartColors[label]; ok {
		return c
	}
	return "#777"
}

// logDomain widens [min, max] to whole decades, at least one.
func logDomain(lo, hi float64) (float64, float64) {
	l := math.Pow(10, math.Floor(math.Log10(lo)))
	h := math.Pow(10, math.Ceil(math.Log10(hi)))
	if h <= l {
		h = l * 10
	}
	return l, h
}

// logTicks are 1, 2 and 5 times each power of ten in [lo, hi].
func logTicks(lo, hi float64) []float64 {
	var ticks []float64
	for k := math.Round(math.Log10(lo)); k <= math.Round(math.Log10(hi)); k++ {
		for _, m := range []float64{1, 2, 5} {
			// m * 10^k by decimal parsing, so 0.2 is 0.2 and not 0.20000000000000004.
			t, _ := strconv.ParseFloat(fmt.Sprintf("%ge%d", m, int(k)), 64)
			if t <= hi*1.0001 {
				ticks = append(ticks, t)
			}
		}
	}
	return ticks
}

func esc(s string) string { return html.EscapeString(s) }
