//go:build !linux

package main

func kernelRelease() string             { return "" }
func nofileLimits() (soft, hard uint64) { return 0, 0 }
