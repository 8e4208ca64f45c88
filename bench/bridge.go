package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/watcherbridge/watcherbridge/watcherclient/watchertest"
)

const (
	watcherKey  = "bench-watcher-key"
	ingestToken = "bench-ingest-token"
)

// fakeWatcher is the in-process fake Watcher, served over HTTP on loopback.
type fakeWatcher struct {
	fw      *watchertest.Server
	srv     *http.Server
	url     string
	keyFile string
}

func startWatcher(dir string) (*fakeWatcher, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	keyFile := filepath.Join(dir, "watcher-key")
	if err := os.WriteFile(keyFile, []byte(watcherKey), 0o600); err != nil {
		ln.Close()
		return nil, err
	}
	fw := watchertest.New(watchertest.Options{APIKey: watcherKey})
	srv := &http.Server{Handler: fw.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return &fakeWatcher{fw: fw, srv: srv, url: "http://" + ln.Addr().String(), keyFile: keyFile}, nil
}

func (w *fakeWatcher) close() { _ = w.srv.Close() }

// bridgeProc is one run of the real bridge binary, `watcherbridge serve`.
type bridgeProc struct {
	cmd      *exec.Cmd
	started  time.Time
	readyAt  time.Time
	httpAddr string
	natsURL  string
	exited   chan struct{}
	waitErr  error

	mu       sync.Mutex
	tail     []string // last lines of its output, for errors
	problems int      // warn and error lines
}

// startBridge runs the bridge on b.dataDir with embedded JetStream and
// returns once it listens for pushes.
func (b *bench) startBridge(ctx context.Context, w *fakeWatcher, name string, env ...string) (*bridgeProc, error) {
	tokenFile := filepath.Join(b.scratch, "ingest-tokens")
	if err := os.WriteFile(tokenFile, []byte(ingestToken+"\n"), 0o600); err != nil {
		return nil, err
	}
	logFile, err := os.Create(filepath.Join(b.scratch, name+".log"))
	if err != nil {
		return nil, err
	}
	args := []string{"serve",
		"--data-dir", b.dataDir,
		"--listen", "127.0.0.1:0",
		"--admin-listen=",
		"--embedded-nats-listen", "127.0.0.1:0",
		"--watcher-url", w.url,
		"--watcher-api-key-file", w.keyFile,
		"--ingest-token-file", tokenFile,
		"--log-format", "json",
		"--log-level", "info",
	}
	args = append(args, strings.Fields(b.cfg.BridgeArgs)...)
	cmd := exec.Command(b.bin, args...)
	// The bridge's own defaults, whatever the caller's environment says.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "WATCHERBRIDGE_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	cmd.Env = append(cmd.Env, strings.Fields(b.cfg.BridgeEnv)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		logFile.Close()
		return nil, err
	}
	cmd.Stderr = cmd.Stdout
	p := &bridgeProc{cmd: cmd, exited: make(chan struct{})}
	ready := make(chan struct{})
	p.started = time.Now()
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, err
	}
	go func() {
		defer logFile.Close()
		p.read(io.TeeReader(stdout, logFile), ready)
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	select {
	case <-ready:
		return p, nil
	case <-p.exited:
		return nil, fmt.Errorf("bridge exited at start-up: %v\n%s", p.waitErr, p.lastLines())
	case <-time.After(60 * time.Second):
		_ = p.stop()
		return nil, fmt.Errorf("bridge not listening after 60s\n%s", p.lastLines())
	case <-ctx.Done():
		_ = p.stop()
		return nil, ctx.Err()
	}
}

// read follows the bridge's JSON log until it ends, noting where it
// listens.
func (p *bridgeProc) read(r io.Reader, ready chan struct{}) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	signaled := false
	for sc.Scan() {
		line := sc.Text()
		var rec struct {
			Level   string `json:"level"`
			Message string `json:"message"`
			NATSURL string `json:"nats_url"`
			Listen  string `json:"listen"`
		}
		_ = json.Unmarshal([]byte(line), &rec)
		p.mu.Lock()
		p.tail = append(p.tail, line)
		if len(p.tail) > 30 {
			p.tail = p.tail[1:]
		}
		if rec.Level == "warn" || rec.Level == "error" {
			p.problems++
		}
		switch rec.Message {
		case "embedded JetStream started":
			p.natsURL = rec.NATSURL
		case "ingest listening":
			p.httpAddr = rec.Listen
			p.readyAt = time.Now()
		}
		done := !signaled && p.natsURL != "" && p.httpAddr != ""
		p.mu.Unlock()
		if done {
			signaled = true
			close(ready)
		}
	}
}

func (p *bridgeProc) lastLines() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.tail, "\n")
}

// peakRSS is the bridge's peak resident memory so far (VmHWM), in MB.
func (p *bridgeProc) peakRSS() float64 {
	v := procField("/proc/"+strconv.Itoa(p.cmd.Process.Pid)+"/status", "VmHWM")
	kb, _ := strconv.ParseFloat(strings.TrimSuffix(v, " kB"), 64)
	return kb / 1024
}

// stop sends SIGTERM and waits for a clean exit.
func (p *bridgeProc) stop() error {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(60 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
		return fmt.Errorf("bridge did not stop within 60s of SIGTERM")
	}
	if p.waitErr != nil {
		return fmt.Errorf("bridge exited: %v\n%s", p.waitErr, p.lastLines())
	}
	return nil
}
