package main

import (
	"os"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// idWord is one 64-bit word of memory shared by the supervisor and its
// workers: the highest id the supervisor has relayed, stored before any
// worker can receive it. A worker reads it to tell an id it has not
// received yet (another worker delivered it first) from an id that was
// never issued (pubsub.Config.Upstream).
type idWord struct {
	fd  int
	mem []byte
}

// newIDWord creates the word (the supervisor's side).
func newIDWord() (*idWord, error) {
	fd, err := unix.MemfdCreate("ssedge-ids", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("memfd_create", err)
	}
	if err := unix.Ftruncate(fd, 8); err != nil {
		unix.Close(fd)
		return nil, os.NewSyscallError("ftruncate", err)
	}
	return mapIDWord(fd, unix.PROT_READ|unix.PROT_WRITE)
}

// mapIDWord maps the word passed down as fd (a worker's side: read-only).
func mapIDWord(fd, prot int) (*idWord, error) {
	mem, err := unix.Mmap(fd, 0, 8, prot, unix.MAP_SHARED)
	if err != nil {
		unix.Close(fd)
		return nil, os.NewSyscallError("mmap", err)
	}
	return &idWord{fd: fd, mem: mem}, nil
}

// word is the shared value; the mapping is page-aligned, so it is aligned
// for atomic access.
func (w *idWord) word() *atomic.Uint64 { return (*atomic.Uint64)(unsafe.Pointer(&w.mem[0])) }

func (w *idWord) close() {
	unix.Munmap(w.mem)
	unix.Close(w.fd)
}
