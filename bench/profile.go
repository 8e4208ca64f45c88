package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// profileHook is added to package main of cmd/watcherbridge, in a copy of
// the binary built for profiling only (go build -overlay): the source tree
// and the real binary stay untouched. It profiles the CPU from start-up
// until SIGUSR1, then writes a marker file next to the profile.
const profileHook = `package main

import (
	"os"
	"os/signal"
	"runtime/pprof"
	"runtime/trace"
	"syscall"
)

func init() {
	path := os.Getenv("` + profileEnv + `")
	if path == "" {
		return
	}
	f, err := os.Create(path)
	if err != nil {
		panic(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		panic(err)
	}
	var tf *os.File
	if tp := os.Getenv("` + traceEnv + `"); tp != "" {
		if tf, err = os.Create(tp); err != nil {
			panic(err)
		}
		if err := trace.Start(tf); err != nil {
			panic(err)
		}
	}
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGUSR1)
	go func() {
		<-c
		pprof.StopCPUProfile()
		f.Close()
		if tf != nil {
			trace.Stop()
			tf.Close()
		}
		_ = os.WriteFile(path+".done", nil, 0o600)
	}()
}
`

// traceEnv names the file the profiling build writes an execution trace
// to, alongside the CPU profile (go tool trace -pprof=sync shows what the
// bridge waits on).
const traceEnv = "BENCH_TRACE"

// buildProfilingBridge builds cmd/watcherbridge with profileHook into dir.
func buildProfilingBridge(ctx context.Context, dir string) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Dir}}").Output()
	if err != nil {
		return "", fmt.Errorf("find the module: %w", err)
	}
	root := strings.TrimSpace(string(out))
	hook := filepath.Join(dir, "zz_bench_profile.go")
	if err := os.WriteFile(hook, []byte(profileHook), 0o644); err != nil {
		return "", err
	}
	overlay, _ := json.Marshal(map[string]map[string]string{"Replace": {
		filepath.Join(root, "cmd", "watcherbridge", "zz_bench_profile.go"): hook,
	}})
	ovFile := filepath.Join(dir, "overlay.json")
	if err := os.WriteFile(ovFile, overlay, 0o644); err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "watcherbridge-profiling")
	cmd := exec.CommandContext(ctx, "go", "build", "-overlay", ovFile, "-o", bin, "./cmd/watcherbridge")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build the profiling bridge: %v\n%s", err, out)
	}
	return bin, nil
}
