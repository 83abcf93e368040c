// Package tuning adapts the process and the kernel to many sockets.
//
// At start, RaiseFileLimit raises RLIMIT_NOFILE from its soft to its hard
// limit (never the hard one: that is the service manager's job) and
// FileLimitAdvice says, for a connection target, what to change when the
// result is too low. ListenBacklog gives the listen(2) backlog from
// net.core.somaxconn.
//
// For `ssedge tune`, ReadSystem reads every sysctl ssedge cares about from
// a procfs root (/proc, or a fake tree in tests), MemTotal and MemAvailable
// from ROOT/meminfo, the usable CPUs and the process's RLIMIT_NOFILE;
// Check turns that and a Target (connections, processes, loops, event rate
// and size, heartbeat) into a
// Report: one Item per setting with its current value, what the target
// needs, a Verdict and why. Report.SysctlConf renders the changes as a
// sysctl.d file; Apply writes them to ROOT/sys after saving the old values
// to a backup file that Revert (or `sysctl -p`) restores.
//
// Invariants:
//
//   - Check reads nothing and changes nothing: everything it knows is in
//     its System argument, so it is a pure function tests drive with fake
//     trees. ReadSystem only reads. Only Apply and Revert write, and only
//     files that exist under ROOT/sys, for keys in the package's list.
//   - A planned value never lowers a setting: each is max(current, need).
//   - Fail means the box cannot hold the target (descriptors, RAM, tcp_mem
//     max, conntrack, or cores that the idle streams' heartbeats would
//     fill); Warn means it holds it less well (SYN drops in a
//     reconnect storm, dead peers kept longer). A value that cannot be read
//     is Unknown, never guessed, and does not fail a check.
//   - Apply writes its backup (fsynced, never over an existing file) before
//     changing anything, and puts back what it changed if a write fails.
//   - Memory and CPU figures are constants with their sources in
//     memory.go, cpu.go and SYSCTL.md (measured with bench/scale.sh,
//     docs/BENCH.md "1M streams"); change them together.
//   - The memory estimate counts ssedge's side only (its sockets, its
//     memory); a client or proxy on the same box is not in it.
//
// Nothing here keeps state or starts goroutines; all functions are safe to
// call concurrently except Apply and Revert on the same root.
package tuning
