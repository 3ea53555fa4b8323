package main

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/tma-portal/tma/server/postgres"
)

// buildTMA builds the tma binary for tests that run it as a process.
func buildTMA(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "tma")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// TestRotateSurvivesKill kills `tma keys rotate` with SIGKILL in the middle
// of its work, as a crash would, and resumes it: nothing is lost, the same
// KEK version is the target, and every document still decrypts.
func TestRotateSurvivesKill(t *testing.T) {
	ctx := context.Background()
	bin := buildTMA(t)
	e := newCLIEnv(t)
	e.mustRun(t, "init")
	kp := loadKeyring(t, filepath.Join(e.dataDir, "keys", "kek"))
	keys := postgres.NewCaseKeyService(e.db, kp)
	w := newKeysWorld(t, e.db, "big")
	w.addCases(t, keys, 10) // with documents and sealed fields
	for i := range 1500 {   // and many more keys, so that the rotation takes a while
		c, err := keys.CreateCase(ctx, w.tenant.ID, "BULK-"+strconv.Itoa(i))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := keys.CaseKey(ctx, w.tenant.ID, c.ID); err != nil {
			t.Fatal(err)
		}
	}

	cmd := exec.Command(bin, "keys", "rotate", "--tenant", "big")
	cmd.Env = append(os.Environ(), "TMA_DATABASE_URL="+e.env["TMA_DATABASE_URL"], "TMA_DATA_DIR="+e.dataDir)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "rewrapped ") {
			_ = cmd.Process.Signal(syscall.SIGKILL)
			break
		}
	}
	_ = cmd.Wait()

	pending, err := keys.PendingRotation(ctx, w.tenant.ID)
	if err != nil || pending == nil {
		t.Fatalf("after the kill the rotation must be unfinished: %v %v", pending, err)
	}
	if v := kekVersions(t, e.db, w.tenant.ID); v[1] == 0 || v[2] == 0 {
		t.Fatalf("after the kill, keys by KEK version: %v; want some on each", v)
	}

	out := e.mustRun(t, "keys", "rotate", "--tenant", "big")
	if !strings.Contains(out, "resuming the interrupted rotation") {
		t.Fatalf("second run did not resume:\n%s", out)
	}
	if v := kekVersions(t, e.db, w.tenant.ID); len(v) != 1 || v[pending.Version] != 1510 {
		t.Fatalf("after resuming, keys by KEK version: %v; want all 1510 on version %d", v, pending.Version)
	}
	fresh := postgres.NewCaseKeyService(e.db, loadKeyring(t, filepath.Join(e.dataDir, "keys", "kek")))
	for _, c := range w.cases {
		if err := readCase(ctx, fresh, c); err != nil {
			t.Fatalf("case %s after kill and resume: %v", c.c.Reference, err)
		}
	}
}
