//go:build !linux

package main

import "errors"

func readProc(int) (procSample, error) {
	return procSample{}, errors.New("ssedge-load: reading a server's RSS and CPU needs Linux /proc")
}
