package main

// The flags and environment of ssedge serve --procs that every system
// knows; the supervisor and workers are in procs_linux.go.
const (
	workerEnv = "SSEDGE_WORKER" // worker index; set only by the supervisor
	maxProcs  = 256
)
