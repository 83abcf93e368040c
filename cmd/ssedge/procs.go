package main

// The flags and environment of ssedge serve --procs that every system
// knows; the supervisor and workers are in procs_linux.go.
const (
	workerEnv = "SSEDGE_WORKER" // worker index; set only by the supervisor
	maxProcs  = 256
)

// workerConfigEnv names the supervisor's snapshot of the configuration
// file in force, which a worker reads instead of --config: a worker
// restarted after the file was broken on disk (and the reload refused), or
// removed, starts with what its siblings run, not with what is on disk.
const workerConfigEnv = "SSEDGE_WORKER_CONFIG"
