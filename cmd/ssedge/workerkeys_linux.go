package main

import (
	"fmt"
	"os"
	"path/filepath"
)

// workerKeys is the supervisor's copies of the key files in force, in a
// directory only this user can read, for its workers (useWorkerKeys).
// The supervisor writes them at start, from the
// files it has just checked, and again after each reload it accepts,
// before it passes the reload on.
type workerKeys struct{ dir string }

func newWorkerKeys(o *serveOptions) (*workerKeys, error) {
	dir, err := os.MkdirTemp("", "ssedge-keys-*") // mode 0700
	if err != nil {
		return nil, fmt.Errorf("key files for the workers: %w", err)
	}
	k := &workerKeys{dir: dir}
	if err := k.write(o); err != nil {
		k.remove()
		return nil, err
	}
	return k, nil
}

// write copies o's key files, each replaced at once (rename), so a worker
// starting meanwhile reads the old key or the new one, never half of one.
// A key o no longer sets is removed (a worker then does not read it).
func (k *workerKeys) write(o *serveOptions) error {
	for _, f := range []struct{ from, name string }{{o.secretFile, workerSecretCopy}, {o.publicKey, workerPublicKeyCopy}} {
		to := filepath.Join(k.dir, f.name)
		if f.from == "" {
			os.Remove(to)
			continue
		}
		b, err := os.ReadFile(f.from)
		if err != nil {
			return fmt.Errorf("key file for the workers: %w", err)
		}
		if err := os.WriteFile(to+".new", b, 0o600); err != nil {
			return fmt.Errorf("key file for the workers: %w", err)
		}
		if err := os.Rename(to+".new", to); err != nil {
			return fmt.Errorf("key file for the workers: %w", err)
		}
	}
	return nil
}

func (k *workerKeys) env() []string {
	if k == nil {
		return nil
	}
	return []string{workerKeysEnv + "=" + k.dir}
}

func (k *workerKeys) remove() {
	if k != nil {
		os.RemoveAll(k.dir)
	}
}
