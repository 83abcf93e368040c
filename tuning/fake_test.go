package tuning_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ssedge/ssedge/tuning"
)

// tree is a fake procfs: sysctl key to file content; "" makes the key a
// directory (unreadable as a file), a missing key is absent.
type tree map[string]string

// lowBox is a small box with the kernel's defaults of a 1 GiB machine.
var lowBox = tree{
	"fs.file-max": "100000", "fs.file-nr": "1000\t0\t100000", "fs.nr_open": "1048576",
	"net.core.somaxconn": "4096", "net.core.netdev_max_backlog": "1000",
	"net.ipv4.tcp_max_syn_backlog": "512", "net.ipv4.tcp_syncookies": "1",
	"net.ipv4.tcp_mem": "21504\t28672\t43008", "net.ipv4.tcp_wmem": "4096\t16384\t4194304",
	"net.ipv4.tcp_rmem": "4096\t131072\t6291456", "net.ipv4.ip_local_port_range": "32768\t60999",
	"net.ipv4.tcp_fin_timeout": "60", "net.ipv4.tcp_tw_reuse": "2",
	"net.ipv4.tcp_max_tw_buckets": "4096", "net.ipv4.tcp_max_orphans": "4096",
	"net.netfilter.nf_conntrack_max": "65536", "net.netfilter.nf_conntrack_count": "100",
	"net.ipv4.tcp_keepalive_time": "7200", "net.ipv4.tcp_keepalive_intvl": "75", "net.ipv4.tcp_keepalive_probes": "9",
	"net.ipv4.tcp_retries2": "15",
	"meminfo":               "MemTotal:        1048576 kB\nMemFree:          524288 kB\nMemAvailable:     786432 kB\n",
}

// bigBox is tuned for a million connections, without conntrack.
var bigBox = tree{
	"fs.file-max": "9223372036854775807", "fs.file-nr": "2000\t0\t9223372036854775807", "fs.nr_open": "2097152",
	"net.core.somaxconn": "65535", "net.core.netdev_max_backlog": "16384",
	"net.ipv4.tcp_max_syn_backlog": "65535", "net.ipv4.tcp_syncookies": "1",
	"net.ipv4.tcp_mem": "3000000\t4000000\t6000000", "net.ipv4.tcp_wmem": "4096\t16384\t4194304",
	"net.ipv4.tcp_rmem": "4096\t131072\t6291456", "net.ipv4.ip_local_port_range": "1024\t65535",
	"net.ipv4.tcp_fin_timeout": "30", "net.ipv4.tcp_tw_reuse": "1",
	"net.ipv4.tcp_max_tw_buckets": "2000000", "net.ipv4.tcp_max_orphans": "2000000",
	"net.ipv4.tcp_keepalive_time": "600", "net.ipv4.tcp_keepalive_intvl": "60", "net.ipv4.tcp_keepalive_probes": "5",
	"net.ipv4.tcp_retries2": "8",
	"meminfo":               "MemTotal:       67108864 kB\nMemAvailable:   62914560 kB\n",
}

func (tr tree) with(kv ...string) tree {
	out := tree{}
	for k, v := range tr {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

func (tr tree) without(keys ...string) tree {
	out := tr.with()
	for _, k := range keys {
		delete(out, k)
	}
	return out
}

// write lays the tree out under a temporary directory and returns it.
func (tr tree) write(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	for k, v := range tr {
		p := filepath.Join(root, "meminfo")
		if k != "meminfo" {
			p = filepath.Join(root, "sys", strings.ReplaceAll(k, ".", "/"))
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if v == "" {
			if err := os.Mkdir(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.WriteFile(p, []byte(v+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// system reads the tree with a fixed machine: 2 CPUs, 4 KiB pages, the
// given open-files limit.
func (tr tree) system(t *testing.T, soft, hard uint64) (tuning.System, string) {
	root := tr.write(t)
	s := tuning.ReadSystem(root)
	s.CPUs, s.PageSize = 2, 4096
	s.FileLimit, s.FileLimitErr = tuning.FileLimit{Soft: soft, Hard: hard, Before: soft}, nil
	return s, root
}

func items(r tuning.Report) map[string]tuning.Item {
	m := map[string]tuning.Item{}
	for _, it := range r.Items {
		m[it.Name] = it
	}
	return m
}
