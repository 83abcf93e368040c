package tuning_test

import (
	"strings"
	"testing"

	"github.com/ssedge/ssedge/tuning"
)

type want struct {
	verdict tuning.Verdict
	current string
	needed  string
	set     string
}

func checkItems(t *testing.T, r tuning.Report, wants map[string]want) {
	t.Helper()
	got := items(r)
	if len(got) != len(r.Items) {
		t.Fatalf("duplicate item names in %+v", r.Items)
	}
	for name, w := range wants {
		it, ok := got[name]
		if !ok {
			t.Errorf("%s: missing", name)
			continue
		}
		if it.Verdict != w.verdict || (w.current != "" && it.Current != w.current) || (w.needed != "" && it.Needed != w.needed) || it.Set != w.set {
			t.Errorf("%s: got verdict %s current %q needed %q set %q; want %s %q %q %q",
				name, it.Verdict, it.Current, it.Needed, it.Set, w.verdict, w.current, w.needed, w.set)
		}
		if it.Why == "" {
			t.Errorf("%s: no why", name)
		}
		if it.Verdict != tuning.OK && it.Fix == "" {
			t.Errorf("%s: %s without a fix", name, it.Verdict)
		}
	}
	if len(wants) != len(r.Items) {
		t.Errorf("checked %d items of %d", len(wants), len(r.Items))
	}
}

func TestCheckTooLow(t *testing.T) {
	s, _ := lowBox.system(t, 1024, 4096)
	r, err := tuning.Check(s, tuning.Target{Conns: 200000, Loops: 2})
	if err != nil {
		t.Fatal(err)
	}
	// 200000 x (5120 + 1600 + 512) + 16 MiB = 1,463,177,216 B > 768 MiB available.
	if r.Memory.IdleBytes != 5632 || r.Memory.PerConnBytes != 7232 || r.Memory.TotalBytes != 200000*7232+16<<20 || r.Memory.TCPPages != 200000 {
		t.Errorf("memory %+v", r.Memory)
	}
	checkItems(t, r, map[string]want{
		"RLIMIT_NOFILE":                  {tuning.Fail, "soft 1024 hard 4096", "hard >= 200256", ""},
		"fs.nr_open":                     {tuning.OK, "1048576", ">= 200704", ""},
		"fs.file-max":                    {tuning.Fail, "100000", ">= 665536", "665536"},
		"memory":                         {tuning.Fail, "768.0 MiB available of 1.00 GiB", "1.36 GiB", ""},
		"cpu":                            {tuning.OK, "2 core(s)", idleCores(200000, tuning.DefaultHeartbeat), ""},
		"net.ipv4.tcp_mem":               {tuning.Fail, "21504 28672 43008", "pressure, max >= 200000", "150000 200000 300000"},
		"net.netfilter.nf_conntrack_max": {tuning.Fail, "65536", ">= 400000", "400000"},
		"net.core.somaxconn":             {tuning.Warn, "4096", ">= 65535", "65535"},
		"net.ipv4.tcp_max_syn_backlog":   {tuning.Warn, "512", ">= 65535", "65535"},
		"net.core.netdev_max_backlog":    {tuning.OK, "1000", ">= 1000", ""},
		"net.ipv4.tcp_wmem":              {tuning.OK, "4096 16384 4194304", "default >= 1600", ""},
		"net.ipv4.tcp_rmem":              {tuning.OK, "4096 131072 6291456", "default >= 16384", ""},
		"net.ipv4.ip_local_port_range":   {tuning.Warn, "32768 60999", "200000 ports per upstream pair", "1024 65535"},
		"net.ipv4.tcp_fin_timeout":       {tuning.OK, "60", "<= 60", ""},
		"net.ipv4.tcp_tw_reuse":          {tuning.OK, "2", "1 or 2", ""},
		"net.ipv4.tcp_max_tw_buckets":    {tuning.Warn, "4096", ">= 200000", "200000"},
		"net.ipv4.tcp_max_orphans":       {tuning.Warn, "4096", ">= 200000", "200000"},
		"net.ipv4.tcp_keepalive_time":    {tuning.OK, "7200", "any", ""},
		"net.ipv4.tcp_retries2":          {tuning.Warn, "15", "<= 8", "8"},
	})
	if r.Holds {
		t.Error("a 1 GiB box holds 200000 connections")
	}
	if n := len(r.Failed()); n != 5 {
		t.Errorf("%d failures, want 5", n)
	}
	if !strings.Contains(items(r)["RLIMIT_NOFILE"].Fix, "LimitNOFILE=200256") {
		t.Errorf("rlimit fix %q", items(r)["RLIMIT_NOFILE"].Fix)
	}
}

func TestCheckEnough(t *testing.T) {
	s, _ := bigBox.system(t, 1<<20, 1<<21)
	s.CPUs = 16
	r, err := tuning.Check(s, tuning.Target{Conns: 1000000, Loops: 16, EventRate: 10, EventBytes: 2048})
	if err != nil {
		t.Fatal(err)
	}
	// 10 events/s x 0.2 s = 2 frames of 2048+64+1024 B = 6272 B: 2 pages.
	if m := r.Memory; m.FramesInFlight != 2 || m.SendBytes != 6272 || m.TCPPagesPerSocket != 2 || m.TCPPages != 2000000 {
		t.Errorf("memory %+v", m)
	}
	checkItems(t, r, map[string]want{
		"RLIMIT_NOFILE":                  {tuning.OK, "soft 1048576 hard 2097152", "hard >= 1000256", ""},
		"fs.nr_open":                     {tuning.OK, "2097152", ">= 1000448", ""},
		"fs.file-max":                    {tuning.OK, "9223372036854775807", ">= 3065536", ""},
		"memory":                         {tuning.OK, "60.00 GiB available of 64.00 GiB", "11.10 GiB", ""},
		"cpu":                            {tuning.OK, "16 core(s)", idleCores(1000000, tuning.DefaultHeartbeat), ""},
		"net.ipv4.tcp_mem":               {tuning.OK, "3000000 4000000 6000000", "pressure, max >= 2000000", ""},
		"net.netfilter.nf_conntrack_max": {tuning.OK, "not loaded", "-", ""},
		"net.core.somaxconn":             {tuning.OK, "65535", ">= 62500", ""},
		"net.ipv4.tcp_max_syn_backlog":   {tuning.OK, "65535", ">= 62500", ""},
		"net.core.netdev_max_backlog":    {tuning.OK, "16384", ">= 1000", ""},
		"net.ipv4.tcp_wmem":              {tuning.OK, "4096 16384 4194304", "default >= 6272", ""},
		"net.ipv4.tcp_rmem":              {tuning.OK, "", "", ""},
		"net.ipv4.ip_local_port_range":   {tuning.Warn, "1024 65535", "1000000 ports per upstream pair", ""},
		"net.ipv4.tcp_fin_timeout":       {tuning.OK, "30", "<= 60", ""},
		"net.ipv4.tcp_tw_reuse":          {tuning.OK, "1", "1 or 2", ""},
		"net.ipv4.tcp_max_tw_buckets":    {tuning.OK, "2000000", ">= 1000000", ""},
		"net.ipv4.tcp_max_orphans":       {tuning.OK, "2000000", ">= 1000000", ""},
		"net.ipv4.tcp_keepalive_time":    {tuning.OK, "600", "any", ""},
		"net.ipv4.tcp_retries2":          {tuning.OK, "8", "<= 8", ""},
	})
	if !r.Holds || len(r.Changes()) != 0 {
		t.Errorf("holds %v, changes %+v", r.Holds, r.Changes())
	}
	if fix := items(r)["net.ipv4.ip_local_port_range"].Fix; !strings.Contains(fix, "16 upstream address pair(s)") {
		t.Errorf("port range fix %q", fix)
	}
}

// Split over processes, each needs its share of descriptors only.
func TestCheckProcs(t *testing.T) {
	s, _ := bigBox.system(t, 20000, 20000)
	r, err := tuning.Check(s, tuning.Target{Conns: 200000, Procs: 11, Loops: 2})
	if err != nil {
		t.Fatal(err)
	}
	it := items(r)["RLIMIT_NOFILE"]
	if it.Verdict != tuning.OK || it.Needed != "hard >= 18438" {
		t.Errorf("%+v", it)
	}
	s.FileLimit.Hard, s.FileLimit.Soft = 10000, 10000
	r, _ = tuning.Check(s, tuning.Target{Conns: 200000, Procs: 11, Loops: 2})
	if it := items(r)["RLIMIT_NOFILE"]; it.Verdict != tuning.Fail || !strings.Contains(it.Fix, "ssedge serve --procs 21") {
		t.Errorf("%+v", it)
	}
	// Soft below, hard enough: ssedge raises it, a warning.
	s.FileLimit.Hard = 1 << 20
	r, _ = tuning.Check(s, tuning.Target{Conns: 200000, Procs: 11, Loops: 2})
	if it := items(r)["RLIMIT_NOFILE"]; it.Verdict != tuning.Warn || !r.Holds {
		t.Errorf("%+v holds %v", it, r.Holds)
	}
}

// Values that cannot be read are unknown, never a guess; they do not make
// the box fail.
func TestCheckUnreadable(t *testing.T) {
	tr := bigBox.with("net.core.somaxconn", "", "net.ipv4.tcp_mem", "lots", "net.ipv4.tcp_wmem", "4096 16384").
		without("meminfo", "net.ipv4.tcp_retries2")
	s, _ := tr.system(t, 1<<20, 1<<20)
	s.FileLimitErr = tuning.ErrNeedsLinux
	r, err := tuning.Check(s, tuning.Target{Conns: 10000, Loops: 2})
	if err != nil {
		t.Fatal(err)
	}
	got := items(r)
	for _, name := range []string{"net.core.somaxconn", "net.ipv4.tcp_mem", "net.ipv4.tcp_wmem", "memory", "net.ipv4.tcp_retries2", "RLIMIT_NOFILE"} {
		if it := got[name]; it.Verdict != tuning.Unknown || !strings.HasPrefix(it.Current, "unreadable: ") || it.Set != "" {
			t.Errorf("%s: %+v", name, it)
		}
	}
	if !r.Holds {
		t.Errorf("unknown values failed the check: %+v", r.Failed())
	}
	if got["fs.file-max"].Verdict != tuning.OK {
		t.Errorf("file-max %+v", got["fs.file-max"])
	}
}

func TestCheckBadTarget(t *testing.T) {
	s, _ := bigBox.system(t, 1024, 1024)
	for _, tg := range []tuning.Target{{Conns: 0}, {Conns: 10, Procs: 11}, {Conns: 10, EventRate: 1e7}} {
		if _, err := tuning.Check(s, tg); err == nil {
			t.Errorf("%+v: no error", tg)
		}
	}
}

func TestRTOTotal(t *testing.T) {
	// ip-sysctl.rst: 15 retries are 924.6 s; 8 are at least 100 s.
	for n, want := range map[int64]float64{15: 924.6, 8: 102.2} {
		if got := tuning.RTOTotal(n); got < want-0.01 || got > want+0.01 {
			t.Errorf("rtoTotal(%d) = %g, want %g", n, got, want)
		}
	}
}

func TestListenBacklog(t *testing.T) {
	for _, c := range []struct {
		val  string
		want int
	}{{"4096", 4096}, {"65535", 65535}, {"1000000", 65535}, {"128", 128}, {"0", 4096}, {"x", 4096}, {"", 4096}} {
		root := tree{"net.core.somaxconn": c.val}.write(t)
		if got := tuning.ListenBacklog(root); got != c.want {
			t.Errorf("somaxconn %q: %d, want %d", c.val, got, c.want)
		}
	}
	if got := tuning.ListenBacklog(t.TempDir()); got != 4096 {
		t.Errorf("missing somaxconn: %d", got)
	}
}

func TestFileLimitAdvice(t *testing.T) {
	if a := tuning.FileLimitAdvice(tuning.FileLimit{Soft: 20000, Hard: 20000}, 10000); a != "" {
		t.Errorf("enough, advice %q", a)
	}
	a := tuning.FileLimitAdvice(tuning.FileLimit{Soft: 20000, Hard: 20000}, 200000)
	for _, w := range []string{"LimitNOFILE=200256", "limits.conf", "--ulimit nofile=200256:200256", "holds about 19744"} {
		if !strings.Contains(a, w) {
			t.Errorf("advice %q lacks %q", a, w)
		}
	}
}
