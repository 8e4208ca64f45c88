package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/watcherbridge/watcherbridge/handlers"
	"github.com/watcherbridge/watcherbridge/watcherclient/watchertest"
)

// buildBinary compiles the bridge once per test binary run.
var buildOnce = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "watcherbridge-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "watcherbridge")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// proc is one run of the real binary.
type proc struct {
	cmd    *exec.Cmd
	listen string
	exited chan struct{} // closed when the process is gone
	err    error         // its exit status, once exited is closed
}

// startProc runs `watcherbridge serve` and waits until it listens; its log
// lines are appended to logs.
func startProc(t *testing.T, logs *syncBuffer, args ...string) *proc {
	t.Helper()
	bin, err := buildOnce()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, append([]string{"serve"}, args...)...)
	cmd.Env = append(os.Environ(), "WATCHERBRIDGE_LOG_LEVEL=info")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, exited: make(chan struct{})}
	listening := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Bytes()
			logs.Write(append(line, '\n'))
			var l struct{ Message, Listen string }
			if json.Unmarshal(line, &l) == nil && l.Message == "ingest listening" {
				select { // never block the log reader
				case listening <- l.Listen:
				default:
				}
			}
		}
		p.err = cmd.Wait()
		close(p.exited)
	}()
	select {
	case p.listen = <-listening:
	case <-p.exited:
		t.Fatalf("bridge exited before listening: %v\n%s", p.err, logs.String())
	case <-time.After(settle):
		cmd.Process.Kill()
		t.Fatalf("bridge did not listen within %s\n%s", settle, logs.String())
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.exited
	})
	return p
}

func envInt(name string, def int) int {
	var n int
	if _, err := fmt.Sscan(os.Getenv(name), &n); err == nil && n > 0 {
		return n
	}
	return def
}

// syncBuffer is a goroutine-safe log collector.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestKillNineConverges kills the real binary with SIGKILL at random moments
// while an activation server keeps pushing thousands of cameras, restarting
// it on the same data dir each time, and then compares Watcher with what was
// pushed: every camera present, each created exactly once.
func TestKillNineConverges(t *testing.T) {
	integration(t)
	// make soak raises these through the environment; the default run is
	// the short version every `make test` runs.
	cameras, kills := envInt("SOAK_CAMERAS", 2000), envInt("SOAK_KILLS", 6)
	const batch = 100
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 0))
	t.Logf("seed %d", seed)

	fake, url := fakeWatcher(t, false)
	// Slow imports so kills land while Watcher calls are in flight.
	fake.SetFault(watchertest.Fault{Latency: 15 * time.Millisecond, PathPrefix: "/cameras/import"})
	keyFile := filepath.Join(t.TempDir(), "key")
	os.WriteFile(keyFile, []byte(testAPIKey), 0o600)
	dataDir := t.TempDir()
	args := []string{"--data-dir", dataDir, "--listen", "127.0.0.1:0", "--embedded-nats-listen", "127.0.0.1:0",
		"--admin-listen", "", "--insecure-no-auth", "--watcher-url", url, "--watcher-api-key-file", keyFile, "--unassigned", "default",
		"--ack-wait", "3s", "--shutdown-timeout", "5s", "--concurrency", "32", "--batch-size", "128"}
	logs := &syncBuffer{}

	var mu sync.Mutex
	cur := startProc(t, logs, args...)
	current := func() *proc { mu.Lock(); defer mu.Unlock(); return cur }

	// The activation server: each batch is re-sent until it gets a 200.
	pushed := make(chan error, 1)
	go func() {
		deadline := time.Now().Add(3*time.Minute + time.Duration(cameras/100)*time.Second)
		for i := 0; i < cameras; i += batch {
			var body bytes.Buffer
			body.WriteString("agent_serial,agent_id,agent_key,stream_url\n")
			for j := i; j < i+batch; j++ {
				fmt.Fprintf(&body, "CRASH-%05d,ag-%d,ak-crash-secret-%d,rtsp://127.0.0.1/%d\n", j, j, j, j)
			}
			for {
				if time.Now().After(deadline) {
					pushed <- fmt.Errorf("batch %d not accepted before the deadline", i/batch)
					return
				}
				resp, err := http.Post("http://"+current().listen+"/activations", "text/csv", bytes.NewReader(body.Bytes()))
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode == http.StatusOK {
						break
					}
				}
				// The sender's pause between retries, not a wait for our work.
				select {
				case <-time.After(20 * time.Millisecond):
				case <-t.Context().Done():
					pushed <- t.Context().Err()
					return
				}
			}
		}
		pushed <- nil
	}()

	for k := 0; k < kills; k++ {
		pause := time.Duration(200+rng.IntN(800)) * time.Millisecond
		select {
		case <-time.After(pause): // a random moment to crash at: the behaviour under test
		case <-t.Context().Done():
			return
		}
		p := current()
		p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.exited
		next := startProc(t, logs, args...)
		mu.Lock()
		cur = next
		mu.Unlock()
	}
	if err := <-pushed; err != nil {
		t.Fatal(err)
	}
	eventually(t, 2*settle+time.Duration(cameras/100)*time.Second, "every pushed camera in Watcher", func() error {
		if n := len(fake.Cameras()); n != cameras {
			return fmt.Errorf("%d of %d cameras", n, cameras)
		}
		return nil
	})
	stats := fake.Stats()
	twice := 0
	for j := 0; j < cameras; j++ {
		name := handlers.CameraName(fmt.Sprintf("CRASH-%05d", j))
		if c := stats.Cameras[name]; c.Created != 1 {
			twice++
			if twice < 5 {
				t.Errorf("camera %s created %d times", name, c.Created)
			}
		}
		cam, _ := fake.Camera(name)
		if cam.StreamURL != fmt.Sprintf("rtsp://127.0.0.1/%d", j) {
			t.Errorf("camera %s has stream %q", name, cam.StreamURL)
		}
	}
	t.Logf("%d cameras, %d kills, %d created more than once, %d Watcher requests", cameras, kills, twice, stats.Requests)
	if strings.Contains(logs.String(), "ak-crash-secret-") || strings.Contains(logs.String(), testAPIKey) {
		t.Error("a secret appeared in the bridge's log")
	}
}

// TestSIGTERMExitsCleanly: the real binary stops within its shutdown
// timeout with exit code 0, and what it accepted is applied after a restart.
func TestSIGTERMExitsCleanly(t *testing.T) {
	integration(t)
	fake, url := fakeWatcher(t, false)
	keyFile := filepath.Join(t.TempDir(), "key")
	os.WriteFile(keyFile, []byte(testAPIKey), 0o600)
	args := []string{"--data-dir", t.TempDir(), "--listen", "127.0.0.1:0", "--embedded-nats-listen", "127.0.0.1:0",
		"--admin-listen", "", "--insecure-no-auth", "--watcher-url", url, "--watcher-api-key-file", keyFile, "--unassigned", "default",
		"--ack-wait", "3s", "--shutdown-timeout", "3s"}
	logs := &syncBuffer{}
	p := startProc(t, logs, args...)
	var body strings.Builder
	body.WriteString("agent_serial,stream_url\n")
	for j := range 300 {
		fmt.Fprintf(&body, "TERM-%d,rtsp://127.0.0.1/%d\n", j, j)
	}
	resp, err := http.Post("http://"+p.listen+"/activations", "text/csv", strings.NewReader(body.String()))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("push: %v %v", err, resp)
	}
	start := time.Now()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		if p.err != nil {
			t.Fatalf("exit after SIGTERM: %v, want code 0\n%s", p.err, logs.String())
		}
	case <-time.After(3*time.Second + 10*time.Second):
		t.Fatalf("still running %s after SIGTERM with --shutdown-timeout 3s", time.Since(start))
	}
	startProc(t, logs, args...)
	eventually(t, settle, "all accepted cameras after restart", func() error {
		if n := len(fake.Cameras()); n != 300 {
			return fmt.Errorf("%d of 300", n)
		}
		return nil
	})
	for name, c := range fake.Stats().Cameras {
		if c.Created != 1 {
			t.Errorf("camera %s created %d times", name, c.Created)
		}
	}
}
