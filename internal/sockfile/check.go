package sockfile

import "fmt"

// Check reports whether the file at Path is still the socket Listen
// created (same device and inode): an error says it was removed or
// replaced, so publishers can no longer reach this process by its path.
func (s *Socket) Check() error {
	d, i, ok := socketID(s.Path)
	switch {
	case !ok:
		return fmt.Errorf("socket file %q is gone (removed while serving)", s.Path)
	case d != s.dev || i != s.ino:
		return fmt.Errorf("socket file %q was replaced by another file", s.Path)
	}
	return nil
}
