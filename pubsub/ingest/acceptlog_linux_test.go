package ingest

import (
	"bufio"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/sys/unix"

	"github.com/ssedge/ssedge/pubsub"
)

// When accept fails for want of descriptors, the publish socket says so
// through the server's logger: the log stays JSON (no library writing its
// own plain-text lines), and the line says what failed. The server runs
// in a child process whose open-files limit the test lowers.
func TestAcceptShortageLogsJSON(t *testing.T) {
	if os.Getenv("INGEST_EMFILE_CHILD") == "1" {
		emfileChild()
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestAcceptShortageLogsJSON$")
	cmd.Env = append(os.Environ(), "INGEST_EMFILE_CHILD=1", "INGEST_EMFILE_SOCK="+filepath.Join(t.TempDir(), "p.sock"))
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	// The child exits by itself after 30 s; reading ends then at the latest.
	found := false
	sc := bufio.NewScanner(stderr)
	for !found && sc.Scan() {
		line := sc.Text()
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("a log line is not JSON: %q", line)
		}
		if rec["msg"] == "publish socket accept failed; retrying" {
			if rec["level"] != "warn" || !strings.Contains(rec["error"].(string), "too many open files") {
				t.Fatalf("accept failure logged as %q", line)
			}
			found = true
		}
	}
	if !found {
		t.Fatal("the child never logged the accept failure")
	}
}

// emfileChild serves a publish socket with a JSON logger on stderr, lowers
// its open-files limit to a few more than it has open, and dials until
// descriptors run out, so that the server's accept meets EMFILE.
func emfileChild() {
	enc := zap.NewProductionEncoderConfig()
	log := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(enc), zapcore.Lock(os.Stderr), zap.InfoLevel))
	h := pubsub.NewHub(pubsub.Config{})
	in, err := Listen(h, Config{Path: os.Getenv("INGEST_EMFILE_SOCK"), Log: log})
	if err != nil {
		log.Fatal("listen", zap.Error(err))
	}
	fds, _ := os.ReadDir("/proc/self/fd")
	lim := uint64(len(fds) + 8)
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: lim, Max: lim}); err != nil {
		log.Fatal("setrlimit", zap.Error(err))
	}
	var conns []net.Conn
	for {
		c, err := net.Dial("unix", in.Path())
		if err != nil {
			break
		}
		conns = append(conns, c)
	}
	time.Sleep(30 * time.Second) // lets the parent read the log; it kills us first
	os.Exit(0)
}
