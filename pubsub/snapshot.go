package pubsub

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strconv"
	"time"

	"github.com/ssedge/ssedge/sse"
)

// A history snapshot carries a hub's history to another hub (a restarted
// --procs worker, a new binary taking over) so that a resume there
// answers exactly as it would here: the same events, the same gaps, the
// same "restart" boundary. It is taken at an id, its LastID: every
// retained event up to it, and the marks that say what is gone (the
// floor, each channel's eviction mark, the forgotten channels' marks).
// The receiving hub is created with LastID as its seed, loads the
// snapshot before anything subscribes, and then takes events from
// LastID+1 on (a relay, or its own publishers): no hole and no duplicate
// at the seam.
//
// The encoding (integers big endian):
//
//	snapshotMagic (the version is in it)
//	u64 last id | u64 restart (Hub.Seed) | u64 floor
//	u32 n, then n forgotten channels, oldest first:  u16 length | name | u64 mark
//	u32 n, then n tracked channels:                  u16 length | name | u64 mark
//	events, in id order: u32 length of the rest | u64 id | i64 published | u16 channel length | channel | frame
//	u32 0 (the end of the events)
//	u32 CRC-32C of everything above
const snapshotMagic = "SSEDGE-HISTORY 1\n"

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Snapshot is a hub's history at one id. It holds the hub's own immutable
// events (no copy of their frames) and is safe to write from any
// goroutine, any number of times.
type Snapshot struct {
	last      uint64
	restart   uint64
	floor     uint64
	forgotten []channelMark // oldest first, as the table folds them
	marks     []channelMark // tracked channels
	events    []*Event      // id order, all at or below last
	// owned: the events were read (ReadSnapshot) and belong to no hub
	// yet, so LoadSnapshot may retain them as they are; otherwise it
	// retains copies, for a history writes its own index into them.
	owned bool
}

type channelMark struct {
	name string
	id   uint64
}

// LastID is the id the snapshot was taken at: the seed of the hub that
// loads it, which then takes events from LastID+1 on.
func (s *Snapshot) LastID() uint64 { return s.last }

// Events is the number of events the snapshot holds.
func (s *Snapshot) Events() int { return len(s.events) }

// Snapshot takes the history as it is now, up to the newest id published
// (LastRingID). See SnapshotAt.
func (h *Hub) Snapshot() *Snapshot {
	h.hist.mu.Lock()
	defer h.hist.mu.Unlock()
	return h.snapshotLocked(h.LastRingID())
}

// SnapshotAt takes the history up to id, which must be at most LastRingID
// (the newest event published): events above it are left out, for the
// receiver gets them afterwards from whatever carries the stream on (the
// relay reads the ring at a position behind the publishers). The marks
// are taken as they are now: an event above id that has already evicted
// an older one leaves that one out and its mark in, which is what the
// receiver's own history will say once that event reaches it.
//
// It holds the history lock (the publishers' lock) while it copies the
// event pointers and marks, never while writing: see the package doc for
// how long that is.
func (h *Hub) SnapshotAt(id uint64) (*Snapshot, error) {
	h.hist.mu.Lock()
	defer h.hist.mu.Unlock()
	if last := h.LastRingID(); id > last {
		return nil, fmt.Errorf("pubsub: snapshot at id %d, above the newest id %d", id, last)
	}
	return h.snapshotLocked(id), nil
}

// snapshotLocked copies the history up to id. Under hist.mu, so the
// order, the channels and the marks do not move meanwhile.
func (h *Hub) snapshotLocked(id uint64) *Snapshot {
	hist := h.hist
	s := &Snapshot{last: id, restart: h.restart.Load(), floor: hist.floor.Load()}
	// The global order holds every retained event in id order (claims and
	// appends happen together under this lock); entries a channel's count
	// bound evicted are stale and skipped.
	s.events = make([]*Event, 0, hist.events)
	for _, e := range hist.order[hist.head:] {
		if e.ch.first.Load() > e.seq {
			continue
		}
		ev := e.ch.at(e.seq)
		if ev == nil {
			continue
		}
		if ev.ID > id {
			break
		}
		s.events = append(s.events, ev)
	}
	for _, name := range hist.forgottenFIFO {
		if v, ok := hist.forgotten.Load(name); ok {
			s.forgotten = append(s.forgotten, channelMark{name, v.(uint64)})
		}
	}
	hist.channels.Range(func(_, v any) bool {
		ch := v.(*channel)
		s.marks = append(s.marks, channelMark{ch.name, ch.evicted.Load()})
		return true
	})
	return s
}

// WriteSnapshot writes the history as it is now (Snapshot) to w.
func (h *Hub) WriteSnapshot(w io.Writer) (int64, error) { return h.Snapshot().WriteTo(w) }

// Len is the number of bytes WriteTo writes.
func (s *Snapshot) Len() int64 {
	n := int64(len(snapshotMagic) + 24 + 4 + 4 + 4 + 4)
	for _, m := range s.forgotten {
		n += int64(2 + len(m.name) + 8)
	}
	for _, m := range s.marks {
		n += int64(2 + len(m.name) + 8)
	}
	for _, ev := range s.events {
		n += int64(4 + 18 + len(ev.Channel) + len(ev.Frame))
	}
	return n
}

// WriteTo writes the snapshot's encoding (see snapshotMagic) to w.
func (s *Snapshot) WriteTo(w io.Writer) (int64, error) {
	cw := &crcWriter{w: w}
	bw := bufio.NewWriterSize(cw, 64<<10)
	var b []byte
	b = append(b, snapshotMagic...)
	b = binary.BigEndian.AppendUint64(b, s.last)
	b = binary.BigEndian.AppendUint64(b, s.restart)
	b = binary.BigEndian.AppendUint64(b, s.floor)
	for _, table := range [][]channelMark{s.forgotten, s.marks} {
		b = binary.BigEndian.AppendUint32(b, uint32(len(table)))
		for _, m := range table {
			b = binary.BigEndian.AppendUint16(b, uint16(len(m.name)))
			b = append(b, m.name...)
			b = binary.BigEndian.AppendUint64(b, m.id)
			if len(b) > 32<<10 {
				bw.Write(b)
				b = b[:0]
			}
		}
	}
	bw.Write(b)
	var head [4 + 18]byte
	for _, ev := range s.events {
		binary.BigEndian.PutUint32(head[0:], uint32(18+len(ev.Channel)+len(ev.Frame)))
		binary.BigEndian.PutUint64(head[4:], ev.ID)
		binary.BigEndian.PutUint64(head[12:], uint64(ev.Published))
		binary.BigEndian.PutUint16(head[20:], uint16(len(ev.Channel)))
		bw.Write(head[:])
		bw.WriteString(ev.Channel)
		bw.Write(ev.Frame)
	}
	bw.Write([]byte{0, 0, 0, 0})
	if err := bw.Flush(); err != nil { // a bufio.Writer keeps its first error
		return cw.n, err
	}
	var sum [4]byte
	binary.BigEndian.PutUint32(sum[:], cw.crc)
	n, err := w.Write(sum[:])
	return cw.n + int64(n), err
}

type crcWriter struct {
	w   io.Writer
	crc uint32
	n   int64
}

func (c *crcWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.crc = crc32.Update(c.crc, castagnoli, p[:n])
	c.n += int64(n)
	return n, err
}

// ErrSnapshot is wrapped by every error ReadSnapshot returns for a stream
// that is not a valid snapshot.
var ErrSnapshot = errors.New("pubsub: bad history snapshot")

// ReadSnapshot reads a snapshot that WriteTo wrote, reading at most limit
// bytes: a longer one is refused (SnapshotLimit gives the most a hub with
// given bounds writes). Everything is checked before it is kept (ids in
// order and at or below the snapshot's id, channel names valid, frames
// present, the checksum), so a corrupt or hostile stream gives an error
// wrapping ErrSnapshot, and memory grows only with bytes actually read.
// It reads r through a buffer: wrap r in io.LimitReader (or hand it a
// *bufio.Reader, which it uses as is) when more follows the snapshot.
func ReadSnapshot(r io.Reader, limit int64) (*Snapshot, error) {
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReaderSize(r, 64<<10)
	}
	sr := &snapReader{r: br, left: limit}
	s, err := sr.read()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSnapshot, err)
	}
	return s, nil
}

// SnapshotLimit is the most bytes a snapshot of a hub with these history
// bounds takes: each event's encoding is smaller than what it is counted
// for in MaxBytes (frame plus about 90 bytes) but for a long channel
// name, and the forgotten channels' table is bounded on its own.
func (c HistoryConfig) SnapshotLimit() int64 {
	c = newHistory(c, 0).cfg
	return 2*c.MaxBytes + maxForgotten*(2+sse.MaxChannelName+8) + 1<<20
}

type snapReader struct {
	r    *bufio.Reader
	left int64
	crc  uint32
	err  error
	buf  [24]byte
}

// full reads len(p) bytes, counting them against the limit and the
// checksum. The first error sticks.
func (r *snapReader) full(p []byte) []byte {
	if r.err != nil {
		return nil
	}
	if int64(len(p)) > r.left {
		r.err = errors.New("longer than the limit")
		return nil
	}
	if _, err := io.ReadFull(r.r, p); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		r.err = err
		return nil
	}
	r.left -= int64(len(p))
	r.crc = crc32.Update(r.crc, castagnoli, p)
	return p
}

func (r *snapReader) u64() uint64 {
	if b := r.full(r.buf[:8]); b != nil {
		return binary.BigEndian.Uint64(b)
	}
	return 0
}

func (r *snapReader) u32() uint32 {
	if b := r.full(r.buf[:4]); b != nil {
		return binary.BigEndian.Uint32(b)
	}
	return 0
}

func (r *snapReader) u16() uint16 {
	if b := r.full(r.buf[:2]); b != nil {
		return binary.BigEndian.Uint16(b)
	}
	return 0
}

// name reads a channel name, interned in names so that every event of a
// channel shares one string.
func (r *snapReader) name(names map[string]string) string {
	n := int(r.u16())
	if r.err != nil {
		return ""
	}
	if n == 0 || n > sse.MaxChannelName {
		r.err = fmt.Errorf("channel name of %d bytes", n)
		return ""
	}
	var b [sse.MaxChannelName]byte
	p := r.full(b[:n])
	if p == nil {
		return ""
	}
	if s, ok := names[string(p)]; ok {
		return s
	}
	if err := sse.ValidChannelName(p); err != nil {
		r.err = err
		return ""
	}
	s := string(p)
	names[s] = s
	return s
}

func (r *snapReader) read() (*Snapshot, error) {
	var magic [len(snapshotMagic)]byte
	if p := r.full(magic[:]); p != nil && string(p) != snapshotMagic {
		return nil, fmt.Errorf("starts with %q, expected %q", p, snapshotMagic)
	}
	s := &Snapshot{last: r.u64(), restart: r.u64(), floor: r.u64(), owned: true}
	if r.err == nil && (s.last > MaxID || s.restart > MaxID || s.floor > MaxID) {
		return nil, fmt.Errorf("ids %d, %d, %d out of range", s.last, s.restart, s.floor)
	}
	names := make(map[string]string)
	for _, table := range []*[]channelMark{&s.forgotten, &s.marks} {
		n := r.u32()
		for i := uint32(0); i < n && r.err == nil; i++ {
			m := channelMark{name: r.name(names), id: r.u64()}
			if r.err == nil && m.id > MaxID {
				return nil, fmt.Errorf("channel %q: mark %d out of range", m.name, m.id)
			}
			*table = append(*table, m)
		}
	}
	var prev uint64
	var head [4 + 18]byte
	for r.err == nil {
		if r.full(head[:4]) == nil {
			break
		}
		n := int64(binary.BigEndian.Uint32(head[0:]))
		if n == 0 {
			break
		}
		if n < 18 || n > r.left {
			return nil, fmt.Errorf("event record of %d bytes (%d left under the limit)", n, r.left)
		}
		if r.full(head[4:]) == nil {
			break
		}
		id := binary.BigEndian.Uint64(head[4:])
		chLen := int(binary.BigEndian.Uint16(head[20:]))
		if id <= prev || id > s.last {
			return nil, fmt.Errorf("event id %d after %d, in a snapshot at %d", id, prev, s.last)
		}
		if chLen == 0 || chLen > sse.MaxChannelName || int64(chLen) >= n-18 {
			return nil, fmt.Errorf("event %d: record of %d bytes with a %d-byte channel", id, n, chLen)
		}
		var nb [sse.MaxChannelName]byte
		p := r.full(nb[:chLen])
		if p == nil {
			break
		}
		ch, ok := names[string(p)]
		if !ok {
			if err := sse.ValidChannelName(p); err != nil {
				return nil, fmt.Errorf("event %d: %w", id, err)
			}
			ch = string(p)
			names[ch] = ch
		}
		frame := r.full(make([]byte, n-18-int64(chLen)))
		if frame == nil {
			break
		}
		// The frame must be the event's own: a resuming client takes its
		// id line as the truth.
		idLine := strconv.AppendUint(append(r.buf[:0], "id: "...), id, 10)
		if !bytes.HasPrefix(frame, append(idLine, '\n')) || !bytes.HasSuffix(frame, []byte("\n\n")) {
			return nil, fmt.Errorf("event %d: frame %.40q is not that event's", id, frame)
		}
		prev = id
		s.events = append(s.events, &Event{ID: id, Channel: ch, Frame: frame, Published: int64(binary.BigEndian.Uint64(head[12:]))})
	}
	want := r.crc
	if got := r.u32(); r.err == nil && got != want {
		return nil, fmt.Errorf("checksum %08x, the content sums to %08x", got, want)
	}
	if r.err != nil {
		return nil, r.err
	}
	return s, nil
}

// LoadSnapshot loads s into h, which must be fresh: created with
// s.LastID() as its Seed, nothing published, nothing retained, and
// nothing subscribed yet. Afterwards a resume on h answers as it did on
// the hub s was taken from (same events, same gaps, the same restart
// boundary: Seed returns what it returned there), and h numbers or takes
// events from LastID+1 on. The events are retained under h's own bounds,
// so a smaller history evicts the oldest as publishing would. It takes
// the history lock once, for the whole load.
func (h *Hub) LoadSnapshot(s *Snapshot) error {
	if s.last != h.seed {
		return fmt.Errorf("pubsub: snapshot at id %d loaded into a hub seeded at %d", s.last, h.seed)
	}
	hist := h.hist
	hist.mu.Lock()
	defer hist.mu.Unlock()
	if h.ring.next.Load() != 0 || hist.events != 0 || hist.nchannels != 0 {
		return errors.New("pubsub: snapshot loaded into a hub that already has events")
	}
	hist.floor.Store(s.floor)
	for _, m := range s.forgotten {
		hist.remember(m.name, m.id)
	}
	marks := make(map[string]uint64, len(s.marks))
	for _, m := range s.marks {
		marks[m.name] = m.id
	}
	now := time.Now().UnixNano()
	owned := s.owned
	s.owned = false // a second load must not share them with the first
	for _, ev := range s.events {
		if !owned {
			c := *ev
			ev = &c
		}
		_, tracked := hist.channels.Load(ev.Channel)
		ch := hist.restore(ev, now)
		if ch != nil && !tracked {
			// The sender's own mark, not one derived from the floor, which
			// may have risen past it since the channel was created there.
			ch.evicted.Store(marks[ev.Channel])
		}
	}
	for _, m := range s.marks {
		hist.raiseMark(m.name, m.id)
	}
	h.restart.Store(s.restart)
	return nil
}

// restore retains ev, numbered and framed, in its channel's history (not
// on the ring: nothing subscribes yet), and returns the channel (nil when
// it keeps no history). Under mu.
func (h *history) restore(ev *Event, now int64) *channel {
	ch := h.channelFor([]byte(ev.Channel))
	if ch != nil {
		ev.Channel = ch.name
	}
	h.retain(ch, ev, now)
	return ch
}

// raiseMark records that ids up to id may be gone from channel name:
// its own mark if it is tracked, the forgotten table's otherwise. Under
// mu.
func (h *history) raiseMark(name string, id uint64) {
	if v, ok := h.channels.Load(name); ok {
		if ch := v.(*channel); id > ch.evicted.Load() {
			ch.evicted.Store(id)
		}
		return
	}
	if v, ok := h.forgotten.Load(name); !ok || v.(uint64) < id {
		h.remember(name, id)
	}
}
