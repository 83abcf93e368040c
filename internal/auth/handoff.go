package auth

import "time"

// Patterns is the grant's "channels" claim as the token gave it (exact
// names and patterns ending in "*"), for handing a stream's grant to a
// new process on upgrade (GrantOf rebuilds it there).
func (g *Grant) Patterns() []string {
	out := make([]string, 0, len(g.exact)+len(g.prefixes))
	out = append(out, g.exact...)
	for _, p := range g.prefixes {
		out = append(out, p+"*")
	}
	return out
}

// GrantOf rebuilds a grant that a verified token gave in another process
// (Patterns, Expires): the token itself is not kept, so it cannot be
// verified again; the old process did.
func GrantOf(patterns []string, expires time.Time) (*Grant, error) {
	return newGrant(patterns, expires)
}
