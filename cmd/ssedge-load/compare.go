package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
)

// compareMain prints results side by side: one block per connection
// count, one column per label (the median over that label's runs), and a
// ratio column label/base for every label but the base.
func compareMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ssedge-load compare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	base := fs.String("base", "nethttp", "label the others are divided by")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var results []*result
	for _, path := range fs.Args() {
		b, err := os.ReadFile(path)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		r := new(result)
		if err := json.Unmarshal(b, r); err != nil {
			fmt.Fprintf(stderr, "ssedge-load compare: %s: %v\n", path, err)
			return 1
		}
		results = append(results, r)
	}
	if len(results) == 0 {
		fmt.Fprintln(stderr, "usage: ssedge-load compare [--base LABEL] RESULT.json...")
		return 2
	}
	writeComparison(stdout, results, *base)
	return 0
}

// comparedMetrics are the rows of the comparison, lower is better for all.
var comparedMetrics = []struct {
	name string
	get  func(*result) float64
}{
	{"RSS per conn (KiB)", func(r *result) float64 { return r.RSSPerConnBytes / 1024 }},
	{"CPU per delivery (µs)", func(r *result) float64 { return r.CPUPerDeliveryUs }},
	{"first subscriber (ms)", func(r *result) float64 { return r.All.FirstMs }},
	{"p50 subscriber (ms)", func(r *result) float64 { return r.All.P50Ms }},
	{"p99 subscriber (ms)", func(r *result) float64 { return r.All.P99Ms }},
	{"last subscriber (ms)", func(r *result) float64 { return r.All.LastMs }},
	{"connect time (s)", func(r *result) float64 { return r.ConnectSeconds }},
}

func writeComparison(w io.Writer, results []*result, base string) {
	byConns := map[int]map[string][]*result{}
	var labels []string
	for _, r := range results {
		if byConns[r.Conns] == nil {
			byConns[r.Conns] = map[string][]*result{}
		}
		byConns[r.Conns][r.Label] = append(byConns[r.Conns][r.Label], r)
		if !slices.Contains(labels, r.Label) {
			labels = append(labels, r.Label)
		}
	}
	// The base goes last so the ratios read left to right.
	slices.SortStableFunc(labels, func(a, b string) int {
		switch {
		case a == base && b != base:
			return 1
		case b == base && a != base:
			return -1
		}
		return 0
	})
	conns := make([]int, 0, len(byConns))
	for n := range byConns {
		conns = append(conns, n)
	}
	slices.Sort(conns)

	for _, n := range conns {
		group := byConns[n]
		fmt.Fprintf(w, "\n%-24s", fmt.Sprintf("%d conns (median)", n))
		for _, l := range labels {
			fmt.Fprintf(w, "%12s", l)
		}
		for _, l := range labels {
			if l != base && group[base] != nil {
				fmt.Fprintf(w, "%16s", l+"/"+base)
			}
		}
		fmt.Fprintln(w)
		for _, m := range comparedMetrics {
			fmt.Fprintf(w, "%-24s", m.name)
			med := map[string]float64{}
			for _, l := range labels {
				if rs := group[l]; len(rs) > 0 {
					med[l] = median(rs, m.get)
					fmt.Fprintf(w, "%12.2f", med[l])
				} else {
					fmt.Fprintf(w, "%12s", "-")
				}
			}
			for _, l := range labels {
				if l == base || group[base] == nil {
					continue
				}
				if b := med[base]; b > 0 && group[l] != nil {
					fmt.Fprintf(w, "%16.2f", med[l]/b)
				} else {
					fmt.Fprintf(w, "%16s", "-")
				}
			}
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "%-24s", "runs (failed)")
		for _, l := range labels {
			failed := 0
			for _, r := range group[l] {
				if !r.OK {
					failed++
				}
			}
			fmt.Fprintf(w, "%12s", fmt.Sprintf("%d (%d)", len(group[l]), failed))
		}
		fmt.Fprintln(w)
	}
}

func median(rs []*result, get func(*result) float64) float64 {
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = get(r)
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}
