//go:build !unix

package pubsub

func privateUmask() (restore func()) { return func() {} }

func socketID(path string) (dev, ino uint64, ok bool) { return 0, 0, false }
