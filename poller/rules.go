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
	for _, r := range set.Rules() {
		if r.Private != nil && *r.Private {
			return fmt.Errorf("%w: match = %q sets private = true, but no token key is configured: give --auth-secret-file or --auth-public-key (and --private-prefix)", rules.ErrBadRule, r.Match)
		}
	}
	return nil
}
