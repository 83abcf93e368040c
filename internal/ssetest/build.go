package ssetest

import (
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sync"
	"testing"
)

var builds struct {
	mu   sync.Mutex
	dir  string
	bins map[string]*built
}

type built struct {
	once sync.Once
	path string
	err  error
}

// Build builds the main package pkg (an import path, or a path relative to
// the test's package directory) once per test process and returns the
// binary's path; concurrent callers share the one build. A test binary
// whose TestMain is Main removes the binaries when it ends.
func Build(t testing.TB, pkg string) string {
	t.Helper()
	p, err := BuildBinary(pkg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// BuildBinary is Build for a TestMain, where there is no test to fail.
func BuildBinary(pkg string) (string, error) {
	builds.mu.Lock()
	if builds.bins == nil {
		builds.bins = map[string]*built{}
	}
	b := builds.bins[pkg]
	if b == nil {
		b = &built{}
		builds.bins[pkg] = b
	}
	if builds.dir == "" {
		dir, err := os.MkdirTemp("", "ssetest-build")
		if err != nil {
			builds.mu.Unlock()
			return "", err
		}
		builds.dir = dir
	}
	dir := filepath.Join(builds.dir, fmt.Sprint(len(builds.bins)))
	builds.mu.Unlock()
	b.once.Do(func() {
		name := path.Base(filepath.ToSlash(pkg))
		if name == "." || name == ".." {
			wd, _ := os.Getwd()
			name = filepath.Base(filepath.Join(wd, pkg))
		}
		b.path = filepath.Join(dir, name)
		if b.err = os.MkdirAll(dir, 0o755); b.err != nil {
			return
		}
		out, err := exec.Command("go", "build", "-o", b.path, pkg).CombinedOutput()
		if err != nil {
			b.err = fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
		}
	})
	return b.path, b.err
}

// Main runs the tests and then removes what Build built; a package whose
// tests call Build says func TestMain(m *testing.M) { ssetest.Main(m) }.
func Main(m *testing.M) {
	code := m.Run()
	builds.mu.Lock()
	if builds.dir != "" {
		os.RemoveAll(builds.dir)
	}
	builds.mu.Unlock()
	os.Exit(code)
}

// NeedTool returns the path of an external program the test drives. When
// it is missing the test skips, except under CI=true, where the test
// command must have installed it and the test fails.
func NeedTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		missing(t, fmt.Sprintf("%s not installed", name))
	}
	return p
}

// NeedFile is NeedTool for a file a Debian package installs (an nginx
// module, say).
func NeedFile(t testing.TB, file, pkg string) {
	t.Helper()
	if _, err := os.Stat(file); err != nil {
		missing(t, fmt.Sprintf("%s missing (Debian package %s)", file, pkg))
	}
}

func missing(t testing.TB, what string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s: scripts/test.sh installs it", what)
	}
	t.Skip(what)
}
