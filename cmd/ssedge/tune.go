package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ssedge/ssedge/poller"
	"github.com/ssedge/ssedge/tuning"
)

const tuneUsage = `Usage: ssedge tune COMMAND [flags]

  check  --conns N   can this box hold N connections? a table of every setting;
                     exit status 1 when one fails (no root needed, changes nothing)
  plan   --conns N   print /etc/sysctl.d/60-ssedge.conf and the open-files lines
  apply  --conns N   root: set the plan's sysctls now, saving the old values
  revert --backup FILE   put back the values apply saved

Each takes --help. Why each setting matters: SYSCTL.md.
`

// errTuneFailed makes `tune check` exit 1 without another message: the
// table already says why.
var errTuneFailed = errors.New("tune: the box cannot hold the target")

func tune(args []string) error {
	if len(args) == 0 || args[0] == "--help" || args[0] == "-h" || args[0] == "help" {
		fmt.Print(tuneUsage)
		return nil
	}
	var err error
	switch args[0] {
	case "check", "plan", "apply":
		err = tuneTarget(args[0], args[1:])
	case "revert":
		err = tuneRevert(args[1:])
	default:
		err = usageError{fmt.Errorf("tune: unknown command %q: expected check, plan, apply or revert", args[0])}
	}
	var ue usageError
	switch {
	case errors.Is(err, errTuneFailed):
		os.Exit(1)
	case errors.As(err, &ue):
		fmt.Fprintln(os.Stderr, "ssedge:", err)
		os.Exit(2)
	}
	return err
}

// hideFlags replaces fs's usage with newFlagSet's, minus the named flags
// (test seams that users need not see).
func hideFlags(fs *flag.FlagSet, synopsis string, hidden ...string) {
	full := newFlagSet(fs.Name(), synopsis)
	fs.VisitAll(func(f *flag.Flag) {
		for _, h := range hidden {
			if f.Name == h {
				return
			}
		}
		full.Var(f.Value, f.Name, f.Usage)
	})
	fs.Usage = func() { full.SetOutput(fs.Output()); full.Usage() }
}

func tuneTarget(cmd string, args []string) error {
	synopsis := "ssedge tune " + cmd + " --conns N [--event-rate R] [--event-bytes B] [--procs P] [--heartbeat D]"
	fs := newFlagSet("tune "+cmd, synopsis)
	var t tuning.Target
	fs.IntVar(&t.Conns, "conns", 0, "subscriber connections the box must hold, all ssedge processes together (required)")
	fs.Float64Var(&t.EventRate, "event-rate", tuning.DefaultEventRate, "events per second each connection receives")
	fs.IntVar(&t.EventBytes, "event-bytes", tuning.DefaultEventBytes, "data bytes per event")
	fs.IntVar(&t.Procs, "procs", 1, "ssedge processes sharing the connections (the same as serve --procs)")
	fs.IntVar(&t.Loops, "loops", 0, "event loops per process, as serve --loops (default: one per CPU, divided among --procs)")
	fs.DurationVar(&t.Heartbeat, "heartbeat", poller.DefaultHeartbeat, "serve --heartbeat: idle streams get a frame this often, which sets their CPU cost")
	format := fs.String("format", "table", "output: table or json")
	if cmd != "check" {
		fs.Lookup("format").Usage = "output of the report before the plan: table or json (check only)"
	}
	backup := fs.String("backup", "", "apply: file to save the previous values in (default /var/lib/ssedge/sysctl-backup-TIME.conf)")
	root := fs.String("proc-root", tuning.DefaultProcRoot, "procfs to read and write (tests)")
	hideFlags(fs, synopsis, "proc-root")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("tune %s: unexpected argument %q (flags start with --)", cmd, fs.Arg(0))}
	}
	if t.Conns <= 0 {
		return usageError{fmt.Errorf("tune %s: --conns %d: expected the number of connections to plan for, such as --conns 200000", cmd, t.Conns)}
	}
	if *format != "table" && *format != "json" {
		return usageError{fmt.Errorf("tune %s: --format %q: expected table or json", cmd, *format)}
	}
	rep, err := tuning.Check(tuning.ReadSystem(*root), t)
	if err != nil {
		return usageError{err}
	}
	switch cmd {
	case "check":
		if *format == "json" {
			enc := json.NewEncoder(os.Stdout)
			enc.SetIndent("", "  ")
			if err := enc.Encode(rep); err != nil {
				return err
			}
		} else {
			printReport(os.Stdout, rep)
		}
		if !rep.Holds {
			return errTuneFailed
		}
	case "plan":
		fmt.Print(rep.SysctlConf())
	case "apply":
		return tuneApply(*root, rep, *backup)
	}
	return nil
}

func tuneApply(root string, rep tuning.Report, backup string) error {
	if root == tuning.DefaultProcRoot && os.Geteuid() != 0 {
		return errors.New("tune apply: needs root, it writes /proc/sys; run it with sudo, or install `ssedge tune plan` output as " + tuning.ConfPath)
	}
	if len(rep.Changes()) == 0 {
		fmt.Println("nothing to change: every sysctl is already enough for", rep.Target.Conns, "connections")
		return nil
	}
	if backup == "" {
		dir := "/var/lib/ssedge"
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("tune apply: backup directory: %w (give --backup FILE)", err)
		}
		backup = filepath.Join(dir, "sysctl-backup-"+time.Now().Format("20060102-150405")+".conf")
	}
	changed, err := tuning.Apply(root, rep, backup)
	if err != nil {
		return err
	}
	// What is still short is judged on the values now in force, read
	// again: rep is from before apply, and the settings apply has just
	// written would otherwise be named as still short.
	after, err := tuning.Check(tuning.ReadSystem(root), rep.Target)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SETTING\tWAS\tNOW")
	for _, it := range changed {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", it.Name, it.Current, it.Set)
	}
	tw.Flush()
	fmt.Printf("\nprevious values saved in %s\nundo:  ssedge tune revert --backup %s\nkeep across reboots:  ssedge tune plan %s > %s\n",
		backup, backup, targetFlags(rep.Target), tuning.ConfPath)
	if f := after.Failed(); len(f) > 0 {
		fmt.Printf("\nstill short after apply (not sysctls apply can set, or the kernel kept a lower value): %s; see ssedge tune check %s\n", names(f), targetFlags(rep.Target))
	}
	return nil
}

func tuneRevert(args []string) error {
	fs := newFlagSet("tune revert", "ssedge tune revert --backup FILE")
	backup := fs.String("backup", "", "backup file written by tune apply (required)")
	root := fs.String("proc-root", tuning.DefaultProcRoot, "procfs to write (tests)")
	hideFlags(fs, "ssedge tune revert --backup FILE", "proc-root")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *backup == "" || fs.NArg() > 0 {
		return usageError{errors.New("tune revert: expected --backup FILE, the file tune apply named")}
	}
	if *root == tuning.DefaultProcRoot && os.Geteuid() != 0 {
		return errors.New("tune revert: needs root, it writes /proc/sys")
	}
	set, err := tuning.Revert(*root, *backup)
	for _, s := range set {
		fmt.Printf("%s = %s\n", s.Key, s.Value)
	}
	return err
}

func printReport(w io.Writer, r tuning.Report) {
	t := r.Target
	m := r.Memory
	fmt.Fprintf(w, "target: %d connections over %d process(es) x %d loops; %g event(s)/s of %d B each; %d CPUs\n",
		t.Conns, t.Procs, t.Loops, t.EventRate, t.EventBytes, r.CPUs)
	fmt.Fprintf(w, "memory per connection: %d B kernel socket + %d B ssedge = %d B idle, + %d B in flight when an event goes to all = %d B; tcp_mem %d page(s) each\n",
		m.KernelIdleBytes, m.UserBytes, m.IdleBytes, m.SendBytes, m.PerConnBytes, m.TCPPagesPerSocket)
	fmt.Fprintf(w, "  (ssedge's own sockets only: a client or nginx on this box adds a socket of its own per stream)\n")
	fmt.Fprintf(w, "cpu: %.0f heartbeats/s every %s = %.2f of %g core(s) idle; one event to all about %.1f s; accepting all about %.0f s\n\n",
		r.CPU.HeartbeatsPerS, t.Heartbeat, r.CPU.IdleCores, r.CPU.Cores, r.CPU.FanoutSeconds, r.CPU.ConnectSeconds)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SETTING\tCURRENT\tNEEDED\tVERDICT\tWHY")
	for _, it := range r.Items {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", it.Name, it.Current, it.Needed, it.Verdict, it.Why)
	}
	tw.Flush()
	var fixes []tuning.Item
	for _, it := range r.Items {
		if it.Fix != "" {
			fixes = append(fixes, it)
		}
	}
	if len(fixes) > 0 {
		fmt.Fprintln(w, "\nfixes:")
		for _, it := range fixes {
			fmt.Fprintf(w, "  %s (%s): %s\n", it.Name, it.Verdict, it.Fix)
		}
	}
	if r.Holds {
		fmt.Fprintf(w, "\nresult: this box can hold %d connections", t.Conns)
		if len(fixes) > 0 {
			fmt.Fprint(w, "; the warnings above make it hold them better")
		}
		fmt.Fprintf(w, "\nall changes at once: ssedge tune plan %s\n", targetFlags(t))
		return
	}
	fmt.Fprintf(w, "\nresult: this box cannot hold %d connections; fix first: %s\n", t.Conns, names(r.Failed()))
	fmt.Fprintf(w, "sysctls: ssedge tune plan %s\n", targetFlags(t))
}

// targetFlags are the flags that give t, defaults left out.
func targetFlags(t tuning.Target) string {
	s := fmt.Sprintf("--conns %d", t.Conns)
	if t.Procs > 1 {
		s += fmt.Sprintf(" --procs %d", t.Procs)
	}
	if t.EventRate != tuning.DefaultEventRate {
		s += fmt.Sprintf(" --event-rate %g", t.EventRate)
	}
	if t.EventBytes != tuning.DefaultEventBytes {
		s += fmt.Sprintf(" --event-bytes %d", t.EventBytes)
	}
	if t.Heartbeat != 0 && t.Heartbeat != poller.DefaultHeartbeat {
		s += fmt.Sprintf(" --heartbeat %s", t.Heartbeat)
	}
	return s
}

func names(items []tuning.Item) string {
	n := make([]string, len(items))
	for i, it := range items {
		n[i] = it.Name
	}
	return strings.Join(n, ", ")
}
