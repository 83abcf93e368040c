package ingest

// refusingNow is how many connections over MaxConns are being answered.
func (s *Server) refusingNow() int32 { return s.refusing.Load() }
