// Command fakewatcher serves the in-process Watcher fake
// (watcherclient/watchertest) over HTTP, for running the bridge end to end
// and for container tests without a real Flussonic Watcher.
//
//	fakewatcher --listen 127.0.0.1:8081 --api-key KEY [--fault-status 503 --fault-rate 0.2]
//
// Admin paths: GET /_fake/stats, GET /_fake/state, POST|DELETE /_fake/faults,
// POST /_fake/reset.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/watcherbridge/watcherbridge/watcherclient/watchertest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "fakewatcher:", err)
		os.Exit(1)
	}
}

// config is the validated command line.
type config struct {
	listen string
	apiKey string
	fault  watchertest.Fault
}

func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	var cfg config
	var keyFile string
	fs := flag.NewFlagSet("fakewatcher", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.listen, "listen", envOr(getenv, "FAKEWATCHER_LISTEN", "127.0.0.1:8081"), "address to listen on; port 0 picks a free port (env FAKEWATCHER_LISTEN)")
	fs.StringVar(&cfg.apiKey, "api-key", getenv("FAKEWATCHER_API_KEY"), "system API key clients must send in x-vsaas-api-key (env FAKEWATCHER_API_KEY)")
	fs.StringVar(&keyFile, "api-key-file", "", "read the API key from this file instead of --api-key")
	fs.IntVar(&cfg.fault.Status, "fault-status", 0, "answer API requests with this HTTP status (e.g. 503)")
	fs.Float64Var(&cfg.fault.Rate, "fault-rate", 0, "probability 0..1 that a request is hit by the fault; 0 = every request")
	fs.DurationVar(&cfg.fault.Latency, "fault-latency", 0, "delay API replies by this duration")
	fs.StringVar(&cfg.fault.PathPrefix, "fault-path", "", "only fault API paths with this prefix, relative to /vsaas/api/v2 (e.g. /cameras/import)")
	fs.IntVar(&cfg.fault.RetryAfter, "fault-retry-after", 0, "Retry-After seconds sent with --fault-status")
	fs.IntVar(&cfg.fault.Count, "fault-count", 0, "fault only the next N matching requests; 0 = unlimited")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if keyFile != "" {
		b, err := os.ReadFile(keyFile)
		if err != nil {
			return config{}, fmt.Errorf("--api-key-file: %w", err)
		}
		cfg.apiKey = strings.TrimSpace(string(b))
		if cfg.apiKey == "" {
			return config{}, fmt.Errorf("--api-key-file %s is empty", keyFile)
		}
	}
	if cfg.apiKey == "" {
		return config{}, errors.New("no API key: set --api-key, --api-key-file or FAKEWATCHER_API_KEY")
	}
	if err := cfg.fault.Validate(); err != nil {
		return config{}, fmt.Errorf("--fault-*: %w", err)
	}
	return cfg, nil
}

func envOr(getenv func(string) string, name, def string) string {
	if v := getenv(name); v != "" {
		return v
	}
	return def
}

// run serves until ctx is cancelled, then shuts down gracefully. It prints
// "fakewatcher listening on ADDR" to stdout once the listener is open.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := parseConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	var logMu sync.Mutex // handlers log concurrently; stderr may be a plain buffer
	logf := func(format string, a ...any) {
		line := time.Now().UTC().Format(time.RFC3339) + " " + fmt.Sprintf(format, a...) + "\n"
		logMu.Lock()
		defer logMu.Unlock()
		io.WriteString(stderr, line)
	}
	fake := watchertest.New(watchertest.Options{APIKey: cfg.apiKey, Logf: logf})
	if f := cfg.fault; f.Status != 0 || f.Latency != 0 {
		fake.SetFault(cfg.fault)
	}

	ln, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		return fmt.Errorf("listen on --listen %s: %w", cfg.listen, err)
	}
	srv := &http.Server{
		Handler:           logRequests(fake.Handler(), logf),
		ReadHeaderTimeout: 10 * time.Second,
	}
	fmt.Fprintf(stdout, "fakewatcher listening on %s\n", ln.Addr())

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	logf("fakewatcher stopped")
	return nil
}

// statusRecorder remembers the status for the request log; Unwrap lets
// http.ResponseController reach the connection for fault-injected resets.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// logRequests writes one line per request: method, path, status (0 when
// the connection was dropped) and duration. Headers, and so the key, are
// never logged.
func logRequests(next http.Handler, logf func(string, ...any)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		defer func() {
			logf("%s %s %d %s", r.Method, r.URL.Path, rec.status, time.Since(start).Round(time.Microsecond))
		}()
		next.ServeHTTP(rec, r)
	})
}
