//go:build !unix

package sockfile

import (
	"errors"
	"os"
)

func dupFD(fd uintptr) (*os.File, error) {
	return nil, errors.New("sockfile: handing a socket over needs a unix system")
}
