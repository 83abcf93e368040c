package poller

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/ssedge/ssedge/httpmin"
	"github.com/ssedge/ssedge/internal/rules"
)

// chanRules is the per-channel rules in force and the per-channel
// subscriber counts, shared by every loop (see the package doc).
type chanRules struct {
	rules    atomic.Pointer[rules.Set] // the Set in force; SetRules swaps it, nobody changes one
	rulesGen atomic.Uint64             // bumped after each swap: a loop that sees a new value re-reads rules and re-checks its streams
	capMu    sync.Mutex                // guards capped; taken when a stream or poll on a channel with max-subscribers starts or ends, never per event
	capped   map[string]int32          // streams and parked polls per channel, only for channels whose rule sets max-subscribers
}

// loopRules is a loop's view of the rules. Owned by the loop goroutine.
type loopRules struct {
	rules    *rules.Set // the Set as of rulesGen
	rulesGen uint64
}

// SetRules puts a compiled rule set in force (nil: no rules): private
// channels and max-subscribers for requests from now on, and a re-check
// of every open stream. Each loop takes the new set at the top of its next
// turn (SetRules wakes them) and revokes the streams it no longer allows
// (ssedge.revoked, CloseRevoked). Safe from any goroutine.
func (s *Server) SetRules(set *rules.Set) error {
	if err := CheckRules(set, s.live.Load().Auth); err != nil { // the keys in force, after a reload's
		return err
	}
	s.rules.Store(set)
	s.rulesGen.Add(1)
	for _, l := range s.loops {
		l.wakeup()
	}
	return nil
}

// takeRules adopts the rule set in force when it changed since the loop
// last looked, and re-checks the loop's streams against it.
func (l *loop) takeRules() {
	gen := l.srv.rulesGen.Load()
	if gen == l.rulesGen {
		return
	}
	l.rulesGen, l.rules = gen, l.srv.rules.Load()
	l.revokeDisallowed()
}

// private reports whether channel needs a token: as its rule says, else
// as the private prefixes say.
func (l *loop) private(channel []byte) bool {
	if r := l.rules.Lookup(channel); r != nil && r.Private != nil {
		return *r.Private
	}
	return l.cfg.Auth.Private(channel)
}

// admitChannels counts a new stream or poll on each of its channels whose
// rule sets max-subscribers, or refuses it with 429 (and closes it) when
// one of them is full. The counts are given back by releaseChannels.
func (l *loop) admitChannels(slot int32, r *httpmin.Request) bool {
	if l.rules.Len() == 0 {
		return true
	}
	c := l.conns.at(slot)
	start := 0
	for _, end := range l.nameEnd {
		name := l.names[start:end]
		start = end
		rule := l.rules.Lookup(name)
		if rule == nil || rule.MaxSubscribers == nil || *rule.MaxSubscribers == 0 {
			continue
		}
		if !l.srv.admitChannel(name, *rule.MaxSubscribers) {
			l.overLimit(slot, r, 429, fmt.Sprintf("channel %q has its limit of %d subscribers (max-subscribers): retry later", name, *rule.MaxSubscribers))
			return false
		}
		if c.capped == nil {
			c.capped = new([]string)
		}
		*c.capped = append(*c.capped, string(name))
	}
	return true
}

// releaseChannels gives back a connection's places in the per-channel
// counts (once its stream or poll is over).
func (l *loop) releaseChannels(slot int32) {
	c := l.conns.at(slot)
	if c.capped == nil {
		return
	}
	for _, name := range *c.capped {
		l.srv.releaseChannel(name)
	}
	c.capped = nil
}

func (s *Server) admitChannel(name []byte, limit int) bool {
	s.capMu.Lock()
	defer s.capMu.Unlock()
	if s.capped == nil {
		s.capped = make(map[string]int32)
	}
	if int(s.capped[string(name)]) >= limit {
		return false
	}
	s.capped[string(name)]++
	return true
}

func (s *Server) releaseChannel(name string) {
	s.capMu.Lock()
	defer s.capMu.Unlock()
	if s.capped[name] <= 1 {
		delete(s.capped, name)
	} else {
		s.capped[name]--
	}
}

// ChannelSubscribers is the count of streams and parked polls on channel
// kept for its max-subscribers rule (0 when no rule limits it).
func (s *Server) ChannelSubscribers(channel string) int {
	s.capMu.Lock()
	defer s.capMu.Unlock()
	return int(s.capped[channel])
}
