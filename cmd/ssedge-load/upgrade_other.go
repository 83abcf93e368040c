//go:build !unix

package main

import "errors"

// sendUpgrade is not available here: ssedge serves only on Linux.
func sendUpgrade(pid int) error { return errors.New("upgrade: SIGUSR2 needs a unix system") }
