package tuning_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ssedge/ssedge/tuning"
)

func readKey(t *testing.T, root, key string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "sys", strings.ReplaceAll(key, ".", "/")))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(strings.Fields(string(b)), " ")
}

func TestApplyRevert(t *testing.T) {
	s, root := lowBox.system(t, 1<<20, 1<<20)
	r, err := tuning.Check(s, tuning.Target{Conns: 200000, Loops: 2})
	if err != nil {
		t.Fatal(err)
	}
	before := map[string]string{}
	for _, k := range tuning.ReadKeys {
		if _, ok := lowBox[k]; ok {
			before[k] = readKey(t, root, k)
		}
	}
	backup := filepath.Join(t.TempDir(), "backup.conf")
	changed, err := tuning.Apply(root, r, backup)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, it := range changed {
		names = append(names, it.Name)
		if got := readKey(t, root, it.Name); got != it.Set {
			t.Errorf("%s = %q after apply, want %q", it.Name, got, it.Set)
		}
	}
	want := []string{"fs.file-max", "net.ipv4.tcp_mem", "net.netfilter.nf_conntrack_max", "net.core.somaxconn",
		"net.ipv4.tcp_max_syn_backlog", "net.ipv4.ip_local_port_range", "net.ipv4.tcp_max_tw_buckets",
		"net.ipv4.tcp_max_orphans", "net.ipv4.tcp_retries2"}
	if !slices.Equal(names, want) {
		t.Errorf("changed %v, want %v", names, want)
	}
	b, _ := os.ReadFile(backup)
	for _, k := range want {
		if line := k + " = " + before[k] + "\n"; !strings.Contains(string(b), line) {
			t.Errorf("backup lacks %q:\n%s", line, b)
		}
	}
	// Apply never overwrites a backup.
	if _, err := tuning.Apply(root, r, backup); !errors.Is(err, os.ErrExist) {
		t.Errorf("second apply over the same backup: %v", err)
	}
	set, err := tuning.Revert(root, backup)
	if err != nil || len(set) != len(want) {
		t.Fatalf("revert: %v %v", set, err)
	}
	for k, v := range before {
		if got := readKey(t, root, k); got != v {
			t.Errorf("%s = %q after revert, want %q", k, got, v)
		}
	}
}

// A write that fails midway puts back what was already written.
func TestApplyRollsBack(t *testing.T) {
	s, root := lowBox.system(t, 1<<20, 1<<20)
	r, _ := tuning.Check(s, tuning.Target{Conns: 200000, Loops: 2})
	// Make tcp_retries2, the last change, unwritable: a directory.
	p := filepath.Join(root, "sys/net/ipv4/tcp_retries2")
	os.Remove(p)
	os.Mkdir(p, 0o755)
	_, err := tuning.Apply(root, r, filepath.Join(t.TempDir(), "b.conf"))
	if err == nil || !strings.Contains(err.Error(), "net.ipv4.tcp_retries2") {
		t.Fatalf("apply: %v", err)
	}
	for _, k := range []string{"fs.file-max", "net.ipv4.tcp_mem", "net.core.somaxconn"} {
		if got := readKey(t, root, k); got != strings.Join(strings.Fields(lowBox[k]), " ") {
			t.Errorf("%s = %q after a failed apply", k, got)
		}
	}
}

func TestRevertRefuses(t *testing.T) {
	root := lowBox.write(t)
	for name, body := range map[string]string{
		"unknown key": "net.core.somaxconn = 128\nkernel.panic = 1\n",
		"no value":    "net.core.somaxconn\n",
		"path escape": "../../etc/passwd = x\n",
	} {
		f := filepath.Join(t.TempDir(), "b.conf")
		os.WriteFile(f, []byte(body), 0o644)
		if _, err := tuning.Revert(root, f); !errors.Is(err, tuning.ErrUnknownSetting) && !errors.Is(err, tuning.ErrBadBackup) {
			t.Errorf("%s: %v", name, err)
		}
		if got := readKey(t, root, "net.core.somaxconn"); got != "4096" {
			t.Errorf("%s: somaxconn written: %q", name, got)
		}
	}
}

func TestSysctlConf(t *testing.T) {
	s, _ := lowBox.system(t, 1024, 1024)
	r, _ := tuning.Check(s, tuning.Target{Conns: 200000, Loops: 2})
	conf := r.SysctlConf()
	var keys []string
	for _, l := range strings.Split(conf, "\n") {
		if l == "" || l[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(l, " = ")
		if !ok || v == "" {
			t.Errorf("not a sysctl.d line: %q", l)
		}
		keys = append(keys, k)
	}
	if len(keys) != len(r.Changes()) {
		t.Errorf("conf sets %v, changes are %d", keys, len(r.Changes()))
	}
	for _, w := range []string{"net.ipv4.tcp_mem = 150000 200000 300000\n", "# net.ipv4.tcp_fin_timeout = 60   (needs <= 60)\n", "LimitNOFILE=200256", "ulimit -n 200256"} {
		if !strings.Contains(conf, w) {
			t.Errorf("conf lacks %q:\n%s", w, conf)
		}
	}
}
