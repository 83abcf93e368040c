//go:build !linux

package main

import "errors"

func runWorker(*workerJob, <-chan command, *messenger) error {
	return errors.New("ssedge-load: workers need Linux (epoll, IP_BIND_ADDRESS_NO_PORT)")
}
