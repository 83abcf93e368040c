//go:build !linux

package main

import "errors"

func measureFloor(pairs, bursts, writeBytes int) (*kernelFloor, error) {
	return nil, errors.New("ssedge-load: the kernel floor needs Linux (epoll, CLOCK_THREAD_CPUTIME_ID)")
}
