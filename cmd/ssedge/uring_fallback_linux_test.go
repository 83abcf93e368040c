package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A stand-in that installs a seccomp filter making io_uring_setup fail
// with ENOSYS (as a kernel without io_uring, or a container runtime's
// default profile that refuses it, does) and then executes the binary
// named by $SSEDGE_TEST_EXEC with its own arguments. The filter stays
// through the exec.
func init() {
	testChildren["no-io-uring"] = func() int {
		runtime.LockOSThread() // the filter is this thread's; exec keeps it
		filter := []unix.SockFilter{
			{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: 0}, // seccomp_data.nr
			{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 0, Jf: 1, K: unix.SYS_IO_URING_SETUP},
			{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)},
			{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ALLOW},
		}
		prog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			fmt.Fprintln(os.Stderr, "stand-in: no_new_privs:", err)
			return 1
		}
		if err := unix.Prctl(unix.PR_SET_SECCOMP, unix.SECCOMP_MODE_FILTER, uintptr(unsafe.Pointer(&prog)), 0, 0); err != nil {
			fmt.Fprintln(os.Stderr, "stand-in: seccomp:", err)
			return 1
		}
		exe := os.Getenv("SSEDGE_TEST_EXEC")
		err := syscall.Exec(exe, append([]string{exe}, os.Args[1:]...), os.Environ())
		fmt.Fprintln(os.Stderr, "stand-in: exec:", err)
		return 1
	}
}

// Where the kernel refuses io_uring at start, ssedge says so once and
// delivers with sendmsg: every stream gets every event, in order, once.
// (The sendmsg delivery paths are tested in depth by poller's SendMsg
// tests with the ring off; this is the refusal itself, in a real
// process.)
func TestIOURingRefusedAtStart(t *testing.T) {
	dir := t.TempDir()
	wrapper := filepath.Join(dir, "ssedge")
	installFile(t, wrapper, []byte(standIn(t, "no-io-uring", "SSEDGE_TEST_EXEC="+bin)))
	sock := filepath.Join(dir, "pub.sock")
	s := runServerFrom(t, wrapper, sock, "--listen", "127.0.0.1:0", "--publish-socket", sock, "--log-level", "debug", "--loops", "2")
	const refused = `"msg":"io_uring unavailable: delivering with sendmsg"`
	if !strings.Contains(s.log, refused) { // logged as loop 0 starts: before or after the serving line
		s.logs.Wait(t, 5*time.Second, 1, refused)
	}
	streams := make([]*stream, 40)
	for i := range streams {
		streams[i] = openStream(t, s.listen, "/events?channel=a")
	}
	s.waitSubscribed(t, len(streams))
	var ids []uint64
	for i := range 5 {
		ids = append(ids, publishID(t, sock, "a", fmt.Sprint("event ", i)))
	}
	checkStreams(t, streams, func(int) string { return "a" }, map[string][]uint64{"a": ids})
}
