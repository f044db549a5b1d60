package procstat

import (
	"os"
	"os/exec"
	"testing"
)

func TestPeakRSSOfAChild(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("no /proc")
	}
	if PeakRSS(os.Getpid()) <= 0 {
		t.Fatal("this process's own peak RSS reads as 0")
	}
	// A child that allocates and touches 64 MiB.
	cmd := exec.Command("sh", "-c", "head -c 67108864 /dev/zero | tr '\\0' x > /dev/null; v=$(head -c 67108864 /dev/zero | tr '\\0' x); sleep 0.2")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stop := PollPeakRSS(cmd.Process.Pid)
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	if kb := stop(); kb < 60*1024 {
		t.Errorf("peak RSS of a child holding 64 MiB read as %d KiB", kb)
	}
	if PeakRSS(cmd.Process.Pid) != 0 {
		t.Errorf("a reaped process still reads a peak RSS")
	}
}
