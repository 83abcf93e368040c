package rules

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ssedge/ssedge/sse"
)

// ErrBadRule is wrapped by every error Compile returns.
var ErrBadRule = errors.New("rules: bad [[channel]] rule")

// Rule is one [[channel]] table.
type Rule struct {
	Match             string    `toml:"match"`
	HistoryPerChannel *int      `toml:"history-per-channel"` // events kept for resume; -1: none
	HistoryAge        *Duration `toml:"history-age"`         // events older than this are evicted
	Private           *bool     `toml:"private"`             // a token that allows the channel is needed
	MaxSubscribers    *int      `toml:"max-subscribers"`     // streams and parked polls on the channel, per process; 0: no limit
	PublishAllowUID   []uint32  `toml:"publish-allow-uid"`   // with PublishAllowGID: only these publishers (SO_PEERCRED) may publish to it
	PublishAllowGID   []uint32  `toml:"publish-allow-gid"`
}

// Duration is a time.Duration written as a Go duration string ("90s",
// "1h30m") in the file.
type Duration time.Duration

// UnmarshalText reads a duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("%q: expected a duration such as 90s or 1h30m", b)
	}
	*d = Duration(v)
	return nil
}

// MarshalText writes the duration string, for printing a configuration.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// Set is a compiled, immutable list of rules.
type Set struct {
	rules    []Rule
	exact    map[string]int // exact Match -> index of its first rule
	prefixes []prefixRule   // in rule order
}

type prefixRule struct {
	prefix string
	index  int
}

// Compile checks rules and builds a Set. An empty list gives an empty Set
// (no channel has a rule); a nil *Set is also empty.
func Compile(rules []Rule) (*Set, error) {
	s := &Set{rules: append([]Rule(nil), rules...), exact: make(map[string]int)}
	for i := range s.rules {
		r := &s.rules[i]
		if err := check(r); err != nil {
			return nil, fmt.Errorf("%w %d (match = %q): %v", ErrBadRule, i+1, r.Match, err)
		}
		if p, ok := strings.CutSuffix(r.Match, "*"); ok {
			s.prefixes = append(s.prefixes, prefixRule{p, i})
		} else if _, dup := s.exact[r.Match]; !dup {
			s.exact[r.Match] = i
		}
	}
	return s, nil
}

func check(r *Rule) error {
	name, prefix := strings.CutSuffix(r.Match, "*")
	switch {
	case r.Match == "":
		return errors.New(`no "match": expected a channel name or a prefix ending in "*"`)
	case strings.Contains(name, "*"):
		return errors.New(`"*" may only end the match`)
	case name != "" && sse.ValidChannelName([]byte(name)) != nil:
		return fmt.Errorf("not a channel name%s: %v", map[bool]string{true: " prefix"}[prefix], sse.ValidChannelName([]byte(name)))
	case r.HistoryPerChannel != nil && *r.HistoryPerChannel < -1:
		return fmt.Errorf("history-per-channel %d: expected -1 (none) or more", *r.HistoryPerChannel)
	case r.HistoryAge != nil && *r.HistoryAge <= 0:
		return fmt.Errorf("history-age %s: expected more than 0", time.Duration(*r.HistoryAge))
	case r.MaxSubscribers != nil && *r.MaxSubscribers < 0:
		return fmt.Errorf("max-subscribers %d: expected 0 (no limit) or more", *r.MaxSubscribers)
	}
	return nil
}

// Lookup returns the first rule that matches channel, or nil.
func (s *Set) Lookup(channel []byte) *Rule {
	if s == nil {
		return nil
	}
	best := -1
	if i, ok := s.exact[string(channel)]; ok {
		best = i
	}
	for _, p := range s.prefixes {
		if best >= 0 && p.index > best {
			break
		}
		if len(channel) >= len(p.prefix) && string(channel[:len(p.prefix)]) == p.prefix {
			best = p.index
			break
		}
	}
	if best < 0 {
		return nil
	}
	return &s.rules[best]
}

// Rules returns the rules in order, for printing a configuration.
func (s *Set) Rules() []Rule {
	if s == nil {
		return nil
	}
	return s.rules
}

// Len is the number of rules.
func (s *Set) Len() int {
	if s == nil {
		return 0
	}
	return len(s.rules)
}
