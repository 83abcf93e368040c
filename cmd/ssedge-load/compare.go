package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
)

// compareMain prints results side by side: one block per connection
// count and event rate, one column per label (the median over that label's runs), and a
// ratio column label/base for every label but the base.
func compareMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ssedge-load compare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	base := fs.String("base", "nethttp", "label the others are divided by")
	results, code := parseResults(fs, args, stderr, "usage: ssedge-load compare [--base LABEL] RESULT.json...")
	if results == nil {
		return code
	}
	writeComparison(stdout, results, *base)
	return 0
}

// comparedMetrics are the rows of the comparison, lower is better for
// all. The machine's rows (the floor) get no ratio column.
var comparedMetrics = []struct {
	name    string
	get     func(*result) float64
	machine bool
}{
	{"RSS per conn (KiB)", func(r *result) float64 { return r.RSSPerConnBytes / 1024 }, false},
	{"CPU per delivery (µs)", func(r *result) float64 { return r.CPUPerDeliveryUs }, false},
	{"kernel floor (µs/write)", func(r *result) float64 { return floorUs(r) }, true},
	{"CPU per delivery/floor", func(r *result) float64 { return r.CPUPerDeliveryOverFloor }, false},
	{"first subscriber (ms)", func(r *result) float64 { return r.All.FirstMs }, false},
	{"p50 subscriber (ms)", func(r *result) float64 { return r.All.P50Ms }, false},
	{"p99 subscriber (ms)", func(r *result) float64 { return r.All.P99Ms }, false},
	{"last subscriber p50 (ms)", func(r *result) float64 { return r.LastP50Ms }, false},
	{"last subscriber max (ms)", func(r *result) float64 { return r.All.LastMs }, false},
	{"connect time (s)", func(r *result) float64 { return r.ConnectSeconds }, false},
}

func floorUs(r *result) float64 {
	if r.Floor == nil {
		return math.NaN()
	}
	return r.Floor.WriteUs
}

// groupKey is one cell of the matrix: a connection count and a rate.
type groupKey struct {
	conns int
	rate  float64
}

func (k groupKey) String() string {
	if k.rate == 0 {
		return fmt.Sprintf("%d conns", k.conns)
	}
	return fmt.Sprintf("%d conns, %.4g ev/s", k.conns, k.rate)
}

// groupResults sorts results into matrix cells and labels, in order.
func groupResults(results []*result) (keys []groupKey, labels []string, groups map[groupKey]map[string][]*result) {
	groups = map[groupKey]map[string][]*result{}
	for _, r := range results {
		k := groupKey{r.Conns, r.RatePerS}
		if groups[k] == nil {
			groups[k] = map[string][]*result{}
			keys = append(keys, k)
		}
		groups[k][r.Label] = append(groups[k][r.Label], r)
		if !slices.Contains(labels, r.Label) {
			labels = append(labels, r.Label)
		}
	}
	slices.SortFunc(keys, func(a, b groupKey) int {
		if a.conns != b.conns {
			return a.conns - b.conns
		}
		switch {
		case a.rate < b.rate:
			return -1
		case a.rate > b.rate:
			return 1
		}
		return 0
	})
	return keys, labels, groups
}

// readResults reads --json files.
// parseResults parses a subcommand's flags and reads the result files its
// arguments name. With no results it has printed why (usage when no file
// was given) and code is the exit status.
func parseResults(fs *flag.FlagSet, args []string, stderr io.Writer, usage string) (results []*result, code int) {
	if err := fs.Parse(args); err != nil {
		return nil, 2
	}
	results, err := readResults(fs.Args())
	if err != nil {
		fmt.Fprintln(stderr, err)
		return nil, 1
	}
	if len(results) == 0 {
		fmt.Fprintln(stderr, usage)
		return nil, 2
	}
	return results, 0
}

func readResults(paths []string) ([]*result, error) {
	var results []*result
	for _, path := range paths {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		r := new(result)
		if err := json.Unmarshal(b, r); err != nil {
			return nil, fmt.Errorf("ssedge-load: %s: %w", path, err)
		}
		results = append(results, r)
	}
	return results, nil
}

func writeComparison(w io.Writer, results []*result, base string) {
	keys, labels, groups := groupResults(results)
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

	for _, k := range keys {
		group := groups[k]
		fmt.Fprintf(w, "\n%-26s", k.String())
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
			fmt.Fprintf(w, "%-26s", m.name)
			med := map[string]float64{}
			for _, l := range labels {
				if rs := group[l]; len(rs) > 0 && !math.IsNaN(median(rs, m.get)) {
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
				if b := med[base]; b > 0 && group[l] != nil && !m.machine {
					fmt.Fprintf(w, "%16.2f", med[l]/b)
				} else {
					fmt.Fprintf(w, "%16s", "-")
				}
			}
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "%-26s", "runs (failed)")
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

// median is the median of get over rs.
func median(rs []*result, get func(*result) float64) float64 {
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = get(r)
	}
	return medianOf(v)
}
