package poller

import (
	"fmt"

	"github.com/ssedge/ssedge/internal/auth"
	"github.com/ssedge/ssedge/internal/rules"
)

// CheckRules reports whether set can be put in force with the token
// verifier v: a rule that makes channels private needs one (a secret or a
// public key). Server.SetRules calls it; a configuration check can too.
func CheckRules(set *rules.Set, v *auth.Verifier) error {
	if v != nil {
		return nil
	}
	for i, r := range set.Rules() {
		if r.Private != nil && *r.Private {
			return fmt.Errorf("%w %d (match = %q): private = true needs a token key: give --auth-secret-file or --auth-public-key", rules.ErrBadRule, i+1, r.Match)
		}
	}
	return nil
}
