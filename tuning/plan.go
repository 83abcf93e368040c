package tuning

import (
	"fmt"
	"strings"
)

// ConfPath is where the plan is meant to be installed: read by
// systemd-sysctl and `sysctl --system` at boot, after the distribution's
// 50-*.conf files and before a local 99-sysctl.conf.
const ConfPath = "/etc/sysctl.d/60-ssedge.conf"

// SysctlConf renders the report as a sysctl.d file: the values to change,
// the ones already enough as comments, and the open-files settings that
// are not sysctls as comments. Installed at ConfPath it holds across
// reboots.
func (r Report) SysctlConf() string {
	var b strings.Builder
	t := r.Target
	fmt.Fprintf(&b, "# %s: kernel settings for ssedge\n", ConfPath)
	fmt.Fprintf(&b, "# written by: ssedge tune plan --conns %d --procs %d --loops %d --event-rate %g --event-bytes %d\n", t.Conns, t.Procs, t.Loops, t.EventRate, t.EventBytes)
	fmt.Fprintf(&b, "# for %d connections over %d process(es), %d loops each; estimated memory %s\n", t.Conns, t.Procs, t.Loops, gib(r.Memory.TotalBytes))
	fmt.Fprintf(&b, "# load now: sysctl -p %s   why each: SYSCTL.md, ssedge tune check\n", ConfPath)
	changes := r.Changes()
	if len(changes) == 0 {
		b.WriteString("\n# nothing to change: every sysctl is already enough\n")
	}
	for _, it := range changes {
		fmt.Fprintf(&b, "\n# %s (was %s; needs %s)\n%s = %s\n", it.Verdict, it.Current, it.Needed, it.Name, it.Set)
	}
	b.WriteString("\n# already enough here, as they are now (another box may lack them: run ssedge tune plan there):\n")
	for _, it := range r.Items {
		if it.sysctl && it.Set == "" {
			fmt.Fprintf(&b, "# %s = %s   (needs %s)\n", it.Name, it.Current, it.Needed)
		}
	}
	n := t.perProcess() + FDReserve
	fmt.Fprintf(&b, "\n# open files per ssedge process (not a sysctl; at most fs.nr_open):\n")
	fmt.Fprintf(&b, "#   systemd unit, [Service]:   LimitNOFILE=%d   (deploy/systemd/ssedge.service)\n", n)
	fmt.Fprintf(&b, "#   shell:                     ulimit -n %d\n", n)
	fmt.Fprintf(&b, "#   /etc/security/limits.conf: *  -  nofile  %d\n", n)
	fmt.Fprintf(&b, "#   docker run:                --ulimit nofile=%d:%d\n", n, n)
	// nginx holds two connections per stream (client and upstream), spread
	// over one worker per CPU, doubled for an uneven spread.
	wc := ceilDiv(4*int64(t.Conns), int64(max(r.CPUs, 1)))
	fmt.Fprintf(&b, "#   nginx here, %d workers:     worker_connections %d;  worker_rlimit_nofile %d;\n", max(r.CPUs, 1), wc, wc+1024)
	return b.String()
}
