//go:build !linux

package poller

// Reload fails with ErrNeedsLinux.
func (s *Server) Reload(st Settings) error { return ErrNeedsLinux }

// Settings returns zeros.
func (s *Server) Settings() Settings { return Settings{} }
