package poller

// slabChunk is the connections per slab chunk (about 60 KB).
const slabChunk = 256

// slab is a loop's connection table: fixed-size chunks allocated as the
// table grows and never moved. A growing slice would copy the table at
// each growth and leave the old arrays as garbage until the collector and
// the scavenger return them, which showed as 0.3 to 0.5 KiB of RSS per
// connection right after a connect burst (measured at 5,000 connections)
// and made memory per connection jump from one size to the next. Owned by
// the loop goroutine.
type slab struct {
	chunks []*[slabChunk]conn
	n      int32 // slots handed out; slots below n exist
}

// at returns the connection in slot, which must be below len.
func (s *slab) at(slot int32) *conn { return &s.chunks[slot/slabChunk][slot%slabChunk] }

// len is the number of slots handed out.
func (s *slab) len() int32 { return s.n }

// add hands out a fresh, zero slot.
func (s *slab) add() int32 {
	if int(s.n) == len(s.chunks)*slabChunk {
		s.chunks = append(s.chunks, new([slabChunk]conn))
	}
	s.n++
	return s.n - 1
}
