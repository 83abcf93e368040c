package tuning

import (
	"fmt"
	"strconv"
)

// DefaultListenBacklog is the backlog used when somaxconn cannot be read:
// the kernel's default somaxconn since Linux 5.4.
const DefaultListenBacklog = 4096

// ListenBacklog is the listen(2) backlog ssedge should ask for: the
// kernel's cap, net.core.somaxconn under root (a procfs mount; "" means
// /proc), so raising the sysctl takes effect at the next start, at most
// MaxListenBacklog; DefaultListenBacklog when it cannot be read.
func ListenBacklog(root string) int {
	if root == "" {
		root = DefaultProcRoot
	}
	raw, err := readSysctl(root, "net.core.somaxconn")
	if err != nil {
		return DefaultListenBacklog
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n <= 0 {
		return DefaultListenBacklog
	}
	return min(n, MaxListenBacklog)
}

// FileLimitAdvice says what to do when the open-files limit fl cannot hold
// conns subscribers in this process; "" when it can. serve logs it as a
// warning after RaiseFileLimit.
func FileLimitAdvice(fl FileLimit, conns int) string {
	need := uint64(conns) + FDReserve
	if conns <= 0 || fl.Soft >= need {
		return ""
	}
	return fmt.Sprintf("open-files limit %d holds about %d subscribers, %d wanted: raise the hard limit to %d "+
		"(systemd: LimitNOFILE=%d; shell: /etc/security/limits.conf \"* - nofile %d\"; docker: --ulimit nofile=%d:%d; "+
		"at most fs.nr_open) or run more processes; see `ssedge tune check --conns %d`",
		fl.Soft, max(int64(fl.Soft)-FDReserve, 0), conns, need, need, need, need, need, conns)
}
