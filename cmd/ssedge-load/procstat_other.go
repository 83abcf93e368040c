//go:build !linux

package main

import "errors"

func readProcTree(int) (procSample, error) {
	return procSample{}, errors.New("ssedge-load: reading a server's RSS and CPU needs Linux /proc")
}
