//go:build !linux

package poller

import "github.com/ssedge/ssedge/internal/rules"

// SetRules fails with ErrNeedsLinux.
func (s *Server) SetRules(set *rules.Set) error { return ErrNeedsLinux }
