package main

// connTrack is what one subscription remembers to check order and loss.
// While events arrive in order (the normal case) it is three integers; the
// first anomaly gives it a bitset of the sequence numbers seen, so duplicates
// and late arrivals can be told apart without costing every connection
// memory up front.
type connTrack struct {
	lastSeq int32    // highest sequence number seen
	got     int32    // distinct events seen
	lastID  uint64   // highest SSE id seen
	seen    []uint64 // bit s set when seq s was seen; nil while in order
}

// eventTally is one published event as a worker saw it.
type eventTally struct {
	Received   uint64      `json:"received"`
	MinNs      int64       `json:"min_ns"`
	MaxNs      int64       `json:"max_ns"`
	Hist       latencyHist `json:"hist"`
	ID         uint64      `json:"id"`          // SSE id of the first copy received
	IDMismatch uint64      `json:"id_mismatch"` // copies that carried another id
}

// tally is a worker's account of every delivery.
type tally struct {
	Events          []eventTally `json:"events"` // index seq-1
	Delivered       uint64       `json:"delivered"`
	Duplicates      uint64       `json:"duplicates"`
	OutOfOrder      uint64       `json:"out_of_order"`      // arrived after a later sequence number
	IDNotIncreasing uint64       `json:"id_not_increasing"` // SSE id not above the previous one
	Foreign         uint64       `json:"foreign"`           // events of another run or publisher
	Malformed       uint64       `json:"malformed"`         // data or id this tool cannot read
}

func newTally(events int) tally {
	t := tally{Events: make([]eventTally, events)}
	for i := range t.Events {
		t.Events[i].Hist = latencyHist{}
	}
	return t
}

// record accounts for ev received on c at arrivalNs (unix nanoseconds).
func (t *tally) record(c *connTrack, ev *sseEvent, arrivalNs int64, run uint64) {
	r, seq, sentNs, ok := parsePayload(ev.Data)
	if !ok {
		t.Malformed++
		return
	}
	if r != run {
		t.Foreign++
		return
	}
	id, err := parseID(ev.ID)
	if seq < 1 || seq > len(t.Events) || err != nil {
		t.Malformed++
		return
	}
	if id <= c.lastID {
		t.IDNotIncreasing++
	} else {
		c.lastID = id
	}
	if !c.admit(int32(seq), len(t.Events)) {
		t.Duplicates++
		return
	}
	if int32(seq) < c.lastSeq {
		t.OutOfOrder++
	}
	c.lastSeq = max(c.lastSeq, int32(seq))
	t.Delivered++

	e := &t.Events[seq-1]
	lat := arrivalNs - sentNs
	if e.Received == 0 || lat < e.MinNs {
		e.MinNs = lat
	}
	if e.Received == 0 || lat > e.MaxNs {
		e.MaxNs = lat
	}
	e.Received++
	e.Hist.add(lat)
	if e.ID == 0 {
		e.ID = id
	} else if e.ID != id {
		e.IDMismatch++
	}
}

// admit marks seq seen and reports whether it is new.
func (c *connTrack) admit(seq int32, events int) bool {
	if c.seen == nil {
		if seq == c.lastSeq+1 {
			c.got++
			return true
		}
		// Everything so far arrived in order: 1..lastSeq were seen.
		c.seen = make([]uint64, events/64+1)
		for s := int32(1); s <= c.lastSeq; s++ {
			c.seen[s/64] |= 1 << (s % 64)
		}
	}
	if c.seen[seq/64]&(1<<(seq%64)) != 0 {
		return false
	}
	c.seen[seq/64] |= 1 << (seq % 64)
	c.got++
	return true
}
