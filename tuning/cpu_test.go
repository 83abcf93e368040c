package tuning_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ssedge/ssedge/tuning"
)

// idleCores is the cpu item's Needed for n streams at heartbeat hb.
func idleCores(n int, hb time.Duration) string {
	return fmt.Sprintf("%.2f idle", float64(n)/hb.Seconds()*tuning.HeartbeatCPU.Seconds())
}

// streamsFor is how many streams make the heartbeats take share of two
// cores at hb, from the model's own cost per heartbeat.
func streamsFor(share float64, hb time.Duration) int {
	return int(share * 2 * hb.Seconds() / tuning.HeartbeatCPU.Seconds())
}

// The cpu item says when the cores, not the memory, stop the target, and
// a longer heartbeat is the fix it names.
func TestCheckCPU(t *testing.T) {
	s, _ := bigBox.system(t, 1<<24, 1<<24) // 2 CPUs, memory to spare
	hb := tuning.DefaultHeartbeat
	for _, tc := range []struct {
		share   float64
		hb      time.Duration
		verdict tuning.Verdict
		fix     string
	}{
		{0.2, hb, tuning.OK, ""},
		{0.7, hb, tuning.Warn, "--heartbeat " + (2 * hb).String()},
		{1.2, hb, tuning.Fail, "--heartbeat " + (4 * hb).String()},
		{1.2, 8 * hb, tuning.OK, ""}, // the same streams at a longer heartbeat: the fix works
	} {
		n := streamsFor(tc.share, hb)
		r, err := tuning.Check(s, tuning.Target{Conns: n, Procs: 1, Loops: 2, Heartbeat: tc.hb})
		if err != nil {
			t.Fatal(err)
		}
		it := items(r)["cpu"]
		if it.Verdict != tc.verdict || it.Needed != idleCores(n, tc.hb) || !strings.Contains(it.Fix, tc.fix) || (tc.fix == "") != (it.Fix == "") {
			t.Errorf("%d streams at %s: %s needed %q fix %q; want %s %q fix with %q", n, tc.hb, it.Verdict, it.Needed, it.Fix, tc.verdict, idleCores(n, tc.hb), tc.fix)
		}
		if tc.verdict == tuning.Fail && r.Holds {
			t.Errorf("%d streams at %s: the box holds them though the heartbeats need more than its cores", n, tc.hb)
		}
		if r.CPU.Cores != 2 || r.CPU.FanoutSeconds <= 0 || r.CPU.ConnectSeconds <= 0 {
			t.Errorf("cpu estimate %+v: want 2 cores and positive fan-out and connect times", r.CPU)
		}
	}
}
