//go:build !linux

package pubsub

import "errors"

func peerCred(fd int) (uid, gid uint32, err error) {
	return 0, 0, errors.New("peer credentials need Linux")
}
