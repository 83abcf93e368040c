package main

import (
	"os"
	"path/filepath"
)

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

// workerKeysEnv names the directory of the supervisor's copies of the key
// files in force (--auth-secret-file, --auth-public-key), which a worker
// reads instead of the paths it was given: a worker restarted after a key
// file was removed, or replaced ahead of the reload that would take it,
// starts with the keys its siblings verify with (workerkeys_linux.go).
const workerKeysEnv = "SSEDGE_WORKER_KEYS"

// The copies' names in that directory.
const (
	workerSecretCopy    = "auth-secret-file"
	workerPublicKeyCopy = "auth-public-key"
)

// useWorkerKeys points a worker's key flags, when set, at the supervisor's
// copies; elsewhere it does nothing. parseServe calls it, so a worker's
// start and its reloads read the same copies.
func (o *serveOptions) useWorkerKeys() {
	dir := os.Getenv(workerKeysEnv)
	if _, worker := os.LookupEnv(workerEnv); !worker || dir == "" {
		return
	}
	if o.secretFile != "" {
		o.secretFile = filepath.Join(dir, workerSecretCopy)
	}
	if o.publicKey != "" {
		o.publicKey = filepath.Join(dir, workerPublicKeyCopy)
	}
}
