package group

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sockshim/sockshim/bpf"
	"github.com/sockshim/sockshim/internal/cgroup"
	"github.com/sockshim/sockshim/internal/testenv"
)

// Faults while traffic runs through the bypass: the group is torn down
// (poststop), everything is reset, or the cgroup is removed. Every stream
// completes intact through whatever path remains; nothing hangs.
func TestFaultsDuringTraffic(t *testing.T) {
	faults := map[string]func(t *testing.T, e *env, a string){
		"poststop": func(t *testing.T, e *env, a string) {
			if err := Teardown(e.k, e.store, "a"); err != nil {
				t.Errorf("teardown during traffic: %v", err)
			}
		},
		"reset": func(t *testing.T, e *env, a string) {
			if err := bpf.Reset(e.bpffs); err != nil {
				t.Errorf("reset during traffic: %v", err)
			}
		},
		"cgroup removal": func(t *testing.T, e *env, a string) {
			// The processes leave first (a cgroup with processes cannot
			// go); the kernel then drops the cgroup's attachments.
			mnt := testenv.CgroupMount(t)
			procs, err := cgroup.Procs(mnt, a)
			if err != nil {
				t.Errorf("processes of the cgroup during traffic: %v", err)
			}
			for _, pid := range procs {
				// ESRCH: the process ended after the listing.
				if err := cgroup.Move(mnt, e.parent, pid); err != nil && !errors.Is(err, syscall.ESRCH) {
					t.Errorf("move out of the cgroup during traffic: %v", err)
				}
			}
			if err := os.Remove(a); err != nil {
				t.Errorf("remove cgroup during traffic: %v", err)
			}
		},
	}
	for name, fault := range faults {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			_, a := e.group(t, "a", true)
			_, b := e.group(t, "b", true)
			done := make(chan int64)
			go func() { done <- load(t, a, b, 40, testenv.Stress(4.0, 30.0)) }()
			time.Sleep(time.Second)
			fault(t, e, a)
			total := <-done
			if total == 0 {
				t.Fatal("no traffic")
			}
			if name != "poststop" { // the group's cleanup must still succeed
				Collect(e.k, e.store)
			}
		})
	}
}

// kill -9 of either end mid-stream: the other end sees the connection end
// (no hang), and other connections carry on intact.
func TestFaultKillMidStream(t *testing.T) {
	for _, victim := range []string{"server", "client"} {
		t.Run(victim, func(t *testing.T) {
			e := newEnv(t)
			_, a := e.group(t, "a", true)
			_, b := e.group(t, "b", true)
			var wg sync.WaitGroup
			wg.Add(1)
			go func() { defer wg.Done(); load(t, a, b, 20, 4) }()

			srv := testenv.Start(t, a, "exchange", "listen", "127.0.0.1:0", fmt.Sprint(int64(64)<<30), "1")
			var l testenv.ListenResult
			srv.JSON(t, helperTimeout, &l)
			cli := testenv.Start(t, b, "exchange", "dial", l.Addr, fmt.Sprint(int64(64)<<30), "2")
			time.Sleep(500 * time.Millisecond)
			killed, other := srv, cli
			if victim == "client" {
				killed, other = cli, srv
			}
			syscall.Kill(killed.Pid(), syscall.SIGKILL)
			start := time.Now()
			var ss []byte
			snap := time.AfterFunc(helperTimeout-time.Second, func() {
				ss, _ = exec.Command("ss", "-tnieomp").CombinedOutput()
			})
			stderr, err := other.Wait(helperTimeout)
			snap.Stop()
			if time.Since(start) >= helperTimeout {
				t.Fatalf("the surviving end hung after its peer was killed: %v\n%s\nsockets:\n%s", err, stderr, ss)
			}
			t.Logf("surviving end ended after %v: %v %s", time.Since(start).Round(time.Millisecond), err, strings.TrimSpace(stderr))
			wg.Wait()
		})
	}
}
