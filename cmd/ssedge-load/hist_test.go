package main

import (
	"math/rand/v2"
	"slices"
	"testing"
)

func TestHistIndexRoundTrip(t *testing.T) {
	prev := uint16(0)
	for us := uint64(0); us < 1<<24; us = us*9/8 + 1 {
		i := histIndex(us)
		if i < prev {
			t.Fatalf("histIndex(%d) = %d, below histIndex of a smaller value (%d)", us, i, prev)
		}
		prev = i
		mid := histMid(i)
		if diff := float64(mid) - float64(us); diff > 0.016*float64(us)+1 || -diff > 0.016*float64(us)+1 {
			t.Errorf("histMid(histIndex(%d)) = %d: more than 1.6%% off", us, mid)
		}
	}
}

func TestHistQuantile(t *testing.T) {
	h := latencyHist{}
	var samples []int64
	for range 10000 {
		ns := int64(rand.ExpFloat64() * 50e6) // mean 50 ms
		samples = append(samples, ns)
		h.add(ns)
	}
	slices.Sort(samples)
	for _, q := range []float64{0.5, 0.9, 0.99} {
		exact := samples[int(q*float64(len(samples)))-1]
		got := h.quantile(q)
		if d := float64(got-exact) / float64(exact); d > 0.03 || d < -0.03 {
			t.Errorf("quantile(%v) = %d, exact %d", q, got, exact)
		}
	}
}
