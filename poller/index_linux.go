package poller

// topic is one channel's subscribers within one loop. subs holds slots in
// the loop's connection table; order is not meaningful.
type topic struct {
	name string
	subs []int32
}

// index maps channel names to the loop's topics: who listens to what.
// Owned by the loop goroutine; nothing else may touch it.
type index struct {
	topics map[string]*topic
}

func newIndex() *index { return &index{topics: make(map[string]*topic)} }

// lookup returns the topic for name, or nil when no subscriber of this
// loop listens to it. It does not allocate.
func (x *index) lookup(name string) *topic { return x.topics[name] }

// len is the number of channels with at least one subscriber in this loop.
func (x *index) len() int { return len(x.topics) }

// add puts sub on channel name and returns the topic and sub's position
// in topic.subs, which the caller keeps to remove it later.
func (x *index) add(name []byte, sub int32) (*topic, int32) {
	t := x.topics[string(name)]
	if t == nil {
		t = &topic{name: string(name)}
		x.topics[t.name] = t
	}
	t.subs = append(t.subs, sub)
	return t, int32(len(t.subs) - 1)
}

// remove takes the subscriber at pos off t by moving the last subscriber
// into its place. It returns that moved subscriber (whose position is now
// pos) and true, or false when nothing moved. An empty topic is dropped so
// channels nobody listens to cost nothing.
func (x *index) remove(t *topic, pos int32) (moved int32, ok bool) {
	last := int32(len(t.subs) - 1)
	if pos != last {
		t.subs[pos] = t.subs[last]
		moved, ok = t.subs[pos], true
	}
	t.subs = t.subs[:last]
	if last == 0 {
		delete(x.topics, t.name)
	} else if cap(t.subs) > 64 && len(t.subs) < cap(t.subs)/4 {
		t.subs = append([]int32(nil), t.subs...)
	}
	return moved, ok
}

// subRef is a subscription: the topic and this connection's position in it.
type subRef struct {
	t   *topic
	pos int32
}

// join puts a connection (a stream, or a parked long-poll) on one
// channel's live events.
func (l *loop) join(slot int32, name []byte) {
	t, pos := l.index.add(name, slot)
	c := l.conns.at(slot)
	c.subs = append(c.subs, subRef{t, pos})
}

// leave takes a connection off all its channels, fixing the position of
// each subscriber that remove moved into its place.
func (l *loop) leave(slot int32) {
	c := l.conns.at(slot)
	for _, s := range c.subs {
		if moved, ok := l.index.remove(s.t, s.pos); ok {
			mc := l.conns.at(moved)
			for i := range mc.subs {
				if mc.subs[i].t == s.t {
					mc.subs[i].pos = s.pos
					break
				}
			}
		}
	}
	c.subs = nil
}
