//go:build unix

package main

import "syscall"

// sendUpgrade sends SIGUSR2 (ssedge's upgrade signal) to pid.
func sendUpgrade(pid int) error { return syscall.Kill(pid, syscall.SIGUSR2) }
