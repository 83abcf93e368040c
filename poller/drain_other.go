//go:build !linux

package poller

import (
	"context"
	"time"
)

// Drain does nothing: there is no Server on this system (ErrNeedsLinux).
func (s *Server) Drain(ctx context.Context, window time.Duration) DrainResult { return DrainResult{} }
