package auth

import "time"

// WithPrevious returns a Verifier that checks tokens as v does and, until
// until, also accepts a token that only prev's keys verify: the overlap
// that lets a reload rotate the HS256 secret or the public key while
// tokens signed with the old one are still in use. Which channels are
// private is v's alone. prev's own previous keys are dropped, so at most
// two key sets are in force at once. v and prev are not modified; a nil
// v (nothing private) stays nil, and a nil prev returns v.
func (v *Verifier) WithPrevious(prev *Verifier, until time.Time) *Verifier {
	if v == nil || prev == nil {
		return v
	}
	p := *prev
	p.previous, p.prevUntil = nil, time.Time{}
	r := *v
	r.previous, r.prevUntil = &p, until
	return &r
}

// verifyPrevious retries a token that v's keys refused with the previous
// keys. The new keys' error stands when the old keys refuse the token
// for the same reason (neither key signed it); when the old keys verified
// the signature but refused the token (expired, say), theirs is the
// useful reason.
func (v *Verifier) verifyPrevious(token []byte, now time.Time, errNew error) (*Grant, error) {
	g, wrongKey, err := v.previous.verify(token, now)
	switch {
	case err == nil:
		return g, nil
	case wrongKey:
		return nil, errNew
	}
	return nil, err
}
