//go:build !unix

package sockfile

import "os"

func privateUmask() (restore func()) { return func() {} }

func socketID(path string) (dev, ino uint64, ok bool) { return 0, 0, false }

func lockSocket(path string) (*os.File, error) { return nil, nil }
