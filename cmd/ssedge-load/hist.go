package main

import (
	"math/bits"
	"slices"
)

// latencyHist counts latencies in microseconds in log-linear buckets: exact
// below 64 µs, then 64 buckets per power of two, so a quantile read from it
// is within 1.6% of the true value. Workers fill one per event and the
// parent merges them; the exact first and last latencies travel beside it.
// It is a map so an event's histogram costs only the buckets it uses.
type latencyHist map[uint16]uint64

const histSubBits = 6

func histIndex(us uint64) uint16 {
	if us < 1<<histSubBits {
		return uint16(us)
	}
	shift := bits.Len64(us) - histSubBits - 1
	return uint16((shift+1)<<histSubBits + int(us>>shift) - 1<<histSubBits)
}

// histMid is the middle of bucket i, in microseconds.
func histMid(i uint16) uint64 {
	if i < 1<<histSubBits {
		return uint64(i)
	}
	shift := int(i>>histSubBits) - 1
	low := (uint64(i&(1<<histSubBits-1)) + 1<<histSubBits) << shift
	return low + (uint64(1)<<shift)/2
}

func (h latencyHist) add(ns int64) {
	h[histIndex(uint64(max(ns, 0))/1000)]++
}

func (h latencyHist) merge(o latencyHist) {
	for i, n := range o {
		h[i] += n
	}
}

// quantile returns the latency in nanoseconds below which a fraction q of
// the samples lie, or 0 for an empty histogram.
func (h latencyHist) quantile(q float64) int64 {
	var total uint64
	for _, n := range h {
		total += n
	}
	if total == 0 {
		return 0
	}
	rank := uint64(q*float64(total) + 0.5)
	rank = max(rank, 1)
	keys := make([]uint16, 0, len(h))
	for i := range h {
		keys = append(keys, i)
	}
	slices.Sort(keys)
	var seen uint64
	for _, i := range keys {
		if seen += h[i]; seen >= rank {
			return int64(histMid(i)) * 1000
		}
	}
	return int64(histMid(keys[len(keys)-1])) * 1000
}
