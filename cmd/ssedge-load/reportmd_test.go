package main

import (
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// fakeResult is a run with the figures the report reads.
func fakeResult(label string, conns int, rate, rssKiB, cpuUs, floorUs, lastMs float64) *result {
	return &result{
		Label: label, Conns: conns, RatePerS: rate, Events: 10, SizeBytes: 100, Connected: conns,
		StartedAt: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC), OK: true, ServerMeasured: true, ServerProcs: 1,
		Machine:         machine{CPUs: 2, CPUModel: "Test CPU", Kernel: "6.0", MemBytes: 24 << 30, NofileSoft: 20000, NofileHard: 20000},
		RSSPerConnBytes: rssKiB * 1024, CPUPerDeliveryUs: cpuUs, CPUPerDeliveryOverFloor: cpuUs / floorUs,
		Floor:     &kernelFloor{Pairs: 200, Bursts: 200, Writes: 40000, WriteBytes: 129, WriteUs: floorUs, HotWriteUs: floorUs / 2, NullSyscallUs: 1},
		LastP50Ms: lastMs, PublishedPerS: rate, All: eventResult{LastMs: lastMs * 1.2},
	}
}

func fakeMatrix() []*result {
	var rs []*result
	for _, n := range []int{1000, 15000} {
		for _, rate := range []float64{1, 50} {
			rs = append(rs,
				fakeResult("ssedge", n, rate, 0.9, 6, 4, 40),
				fakeResult("nethttp", n, rate, 30, 30, 4, 150),
				fakeResult("nchan", n, rate, 10, 10, 4, 130))
		}
	}
	// One peer run fell behind and lost deliveries.
	late := rs[len(rs)-2]
	late.OK, late.Lost, late.Problems, late.PublishedPerS = false, 42, []string{"42 deliveries lost"}, 20
	return rs
}

func TestRenderReport(t *testing.T) {
	md := renderReport(fakeMatrix(), reportOptions{command: "bench/run.sh", peers: "nginx", self: "ssedge", chart: "bench.svg", notes: []string{"A note."}})
	for _, want := range []string{
		"## Headline: 15,000 connections",
		"| RSS per idle connection, KiB | 0.90 | 30.00 | 10.00 | 0.03 | 0.09 |",
		"| server CPU per delivery, µs, 50 ev/s | 6.00 | 30.00 | 10.00 | 0.20 | 0.60 |",
		"| CPU per delivery / kernel floor, 1 ev/s | 1.50 | 7.50 | 2.50 | | |",
		"User-space RSS per idle connection under 1 KiB: **met**",
		"at most 1/2 of Nchan's: **missed** (1k, 1 ev/s: 0.60 (20% over); 1k, 50 ev/s",
		"within 1.5x of the kernel floor (one loopback write, measured in the same run): **met**",
		"Time to the last of 15,000 subscribers (p50 over events) at most 1/2 of Nchan's: **met** (15k, 1 ev/s: 0.31; 15k, 50 ev/s: 0.31)",
		"- net/http at 15k, 50 ev/s: 42 deliveries lost.",
		"the publisher could send only 20.0 events/s",
		"### 1,000 connections, 50 events/s",
		"| CPUs | 2 (`nproc`), Test CPU |",
		"A note.",
		"![Memory per connection",
		"```sh\nbench/run.sh\n```",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if t.Failed() {
		t.Log("\n" + md)
	}
}

func TestVerdict(t *testing.T) {
	for _, c := range []struct {
		checks []check
		want   string
	}{
		{nil, "not measured (no results for it)"},
		{[]check{{where: "1k", value: 0.4, limit: 0.5}}, "**met** (1k: 0.40)"},
		{[]check{{where: "1k", value: 0.75, limit: 0.5}}, "**missed** (1k: 0.75 (50% over))"},
		{[]check{{where: "1k", value: 0.5024, limit: 0.5}}, "**missed** (1k: 0.50 (0.5% over))"},
		{[]check{{where: "1k", value: 0.2, limit: 0.1, deviation: true, shown: "+20%"}}, "**missed** (1k: +20%)"},
		{[]check{{where: "1k", value: 0.4, limit: 0.5}, {where: "15k", value: 0.6, limit: 0.5}},
			"**missed** in 1 of 2: 15k: 0.60 (20% over). Met: 1k: 0.40"},
	} {
		if got := verdict(c.checks, f2); got != c.want {
			t.Errorf("verdict(%v) = %q, want %q", c.checks, got, c.want)
		}
	}
}

func TestSpliceKeepsHandWrittenSections(t *testing.T) {
	doc := "# Title\n\nintro\n\n" + reportBegin + "\nold figures\n" + reportEnd + "\n\n## 200k connections (multi-process)\n\nby hand\n"
	got, err := splice([]byte(doc), "new figures\n")
	if err != nil {
		t.Fatal(err)
	}
	want := "# Title\n\nintro\n\n" + reportBegin + "\nnew figures\n" + reportEnd + "\n\n## 200k connections (multi-process)\n\nby hand\n"
	if string(got) != want {
		t.Errorf("splice gave\n%s\nwant\n%s", got, want)
	}
	if _, err := splice([]byte("# no markers\n"), "x"); !errors.Is(err, errNoMarkers) {
		t.Errorf("splice without markers: %v, want errNoMarkers", err)
	}

	dir := t.TempDir()
	path := filepath.Join(dir, "BENCH.md")
	if err := os.WriteFile(path, []byte("# hand-written, no region\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := spliceFile(path, "x\n"); !errors.Is(err, errNoMarkers) {
		t.Errorf("spliceFile on a file without markers: %v, want errNoMarkers and the file left alone", err)
	}
	fresh := filepath.Join(dir, "new.md")
	if err := spliceFile(fresh, "figures\n"); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(fresh)
	if !strings.Contains(string(b), reportBegin+"\nfigures\n"+reportEnd) {
		t.Errorf("new file:\n%s\nwant the figures inside the markers", b)
	}
}

func TestChartIsSVG(t *testing.T) {
	svg := renderChart(newReport(fakeMatrix(), reportOptions{self: "ssedge"}), 0)
	dec := xml.NewDecoder(strings.NewReader(svg))
	for {
		if _, err := dec.Token(); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("chart is not well-formed XML: %v\n%s", err, svg)
		}
	}
	if n := strings.Count(svg, "<polyline"); n != 6 {
		t.Errorf("%d lines, want 6: one per server in each of two panels", n)
	}
	for _, want := range []string{"ssedge", "net/http", "Nchan", "1k", "15k", "0.90", "150"} {
		if !strings.Contains(svg, ">"+want+"<") {
			t.Errorf("chart lacks the text %q", want)
		}
	}
}

func TestLogTicks(t *testing.T) {
	lo, hi := logDomain(0.62, 31)
	if lo != 0.1 || hi != 100 {
		t.Errorf("logDomain(0.62, 31) = %v, %v; want 0.1, 100", lo, hi)
	}
	want := []float64{0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100}
	if got := logTicks(lo, hi); !slices.Equal(got, want) {
		t.Errorf("logTicks(0.1, 100) = %v, want %v", got, want)
	}
}

func TestSpreadLabels(t *testing.T) {
	got := spreadLabels([]pointLabel{{x: 1, y: 105}, {x: 1, y: 100}, {x: 2, y: 100}}, 12)
	want := []pointLabel{{x: 1, y: 100}, {x: 1, y: 112}, {x: 2, y: 100}}
	if !slices.Equal(got, want) {
		t.Errorf("spreadLabels = %v, want %v", got, want)
	}
}
