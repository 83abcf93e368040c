//go:build !linux

package ingest

import (
	"errors"
	"net"
)

func peerCred(c *net.UnixConn) (uid, gid uint32, err error) {
	return 0, 0, errors.New("peer credentials need Linux")
}
