package poller

// Topic is one channel's subscribers within one loop. Subs holds the
// loop's connection handles; order is not meaningful.
type Topic struct {
	Name string
	Subs []int32
}

// Index maps channel names to the loop's topics. It belongs to one loop
// goroutine; nothing else may touch it.
type Index struct {
	topics map[string]*Topic
}

// NewIndex returns an empty index.
func NewIndex() *Index { return &Index{topics: make(map[string]*Topic)} }

// Lookup returns the topic for name, or nil when no subscriber of this loop
// listens to it. It does not allocate.
func (x *Index) Lookup(name string) *Topic { return x.topics[name] }

// Len is the number of channels with at least one subscriber in this loop.
func (x *Index) Len() int { return len(x.topics) }

// Join adds sub to channel name and returns the topic and sub's position in
// Topic.Subs, which the caller keeps to Leave later.
func (x *Index) Join(name []byte, sub int32) (*Topic, int32) {
	t := x.topics[string(name)]
	if t == nil {
		t = &Topic{Name: string(name)}
		x.topics[t.Name] = t
	}
	t.Subs = append(t.Subs, sub)
	return t, int32(len(t.Subs) - 1)
}

// Leave removes the subscriber at pos from t by moving the last subscriber
// into its place. It returns that moved subscriber (whose position is now
// pos) and true, or false when nothing moved. An empty topic is dropped so
// channels nobody listens to cost nothing.
func (x *Index) Leave(t *Topic, pos int32) (moved int32, ok bool) {
	last := int32(len(t.Subs) - 1)
	if pos != last {
		t.Subs[pos] = t.Subs[last]
		moved, ok = t.Subs[pos], true
	}
	t.Subs = t.Subs[:last]
	if last == 0 {
		delete(x.topics, t.Name)
	} else if cap(t.Subs) > 64 && len(t.Subs) < cap(t.Subs)/4 {
		t.Subs = append([]int32(nil), t.Subs...)
	}
	return moved, ok
}
