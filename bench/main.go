// Command bench measures watcherbridge against the limit it runs on and
// against the naive way, in one run (`make bench`, issue 7):
//
//  1. ceiling: the embedded JetStream server alone, with the bridge's
//     settings (file storage, SyncAlways, events.StreamConfig): async
//     publish of N camera.activated events with message ids, then a pull
//     consumer acking each one;
//  2. end to end: the same N events already on the stream, the real
//     bridge binary (`watcherbridge serve`) started on them, until the fake
//     Watcher holds every camera;
//  3. replay: the bridge's durable consumers deleted, the bbolt file kept,
//     the bridge started again: N events with nothing to change;
//  4. ingest: 10,000-row CSV and JSON pushes to /activations of that
//     running bridge, fresh serials each time;
//  5. naive: the same events through one bbolt update (fsync) and one
//     POST /cameras per event, sequentially.
//
// The bridge runs as a child process, so its peak resident memory
// (VmHWM) is its own, embedded JetStream included; the fake Watcher
// (watchertest, over HTTP) and the measuring run in this process.
// Everything listens on 127.0.0.1. The targets of the issue are reported
// PASS or MISS; the bench never fails on them.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		stop()
		os.Exit(1)
	}
}

type benchConfig struct {
	Bin          string `json:"-"`
	Out          string `json:"-"`
	Dir          string `json:"-"`
	Keep         bool   `json:"-"`
	CPUProfile   string `json:"-"`
	Trace        string `json:"-"`
	BridgeArgs   string `json:"bridge_args,omitempty"`
	BridgeEnv    string `json:"bridge_env,omitempty"`
	Events       int    `json:"events"`
	NaiveEvents  int    `json:"naive_events"`
	IngestRows   int    `json:"ingest_rows"`
	IngestPushes int    `json:"ingest_pushes_per_format"`
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	var cfg benchConfig
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.StringVar(&cfg.Bin, "bin", "bin/watcherbridge", "the bridge binary to measure (make build)")
	fs.StringVar(&cfg.Out, "out", "bench/results.json", "where to write the results")
	fs.StringVar(&cfg.Dir, "dir", "", "parent of the scratch directory (default: the system's temporary directory)")
	fs.BoolVar(&cfg.Keep, "keep", false, "keep the scratch directory (data dirs, bridge logs)")
	fs.StringVar(&cfg.CPUProfile, "cpuprofile", "", "write a CPU profile of the bridge's end-to-end run here (builds a profiling copy of the binary)")
	fs.StringVar(&cfg.Trace, "trace", "", "with --cpuprofile, also write an execution trace of the end-to-end run here")
	fs.StringVar(&cfg.BridgeArgs, "bridge-args", "", "extra flags for `watcherbridge serve`, space-separated (the default measures the defaults)")
	fs.StringVar(&cfg.BridgeEnv, "bridge-env", "", "extra environment of the bridge only, space-separated KEY=VALUE (e.g. GOMEMLIMIT=100MiB)")
	fs.IntVar(&cfg.Events, "events", 100_000, "events of the ceiling, end-to-end and replay runs")
	fs.IntVar(&cfg.NaiveEvents, "naive-events", 10_000, "events of the naive baseline (its rate is per event, so fewer suffice)")
	fs.IntVar(&cfg.IngestRows, "ingest-rows", 10_000, "rows of one activation push")
	fs.IntVar(&cfg.IngestPushes, "ingest-pushes", 5, "pushes per format (CSV, JSON)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if cfg.NaiveEvents > cfg.Events {
		cfg.NaiveEvents = cfg.Events
	}
	scratch, err := os.MkdirTemp(cfg.Dir, "watcherbridge-bench-")
	if err != nil {
		return err
	}
	if cfg.Keep {
		fmt.Fprintln(stdout, "scratch directory:", scratch)
	} else {
		defer os.RemoveAll(scratch)
	}
	bin := cfg.Bin
	if cfg.CPUProfile != "" {
		if bin, err = buildProfilingBridge(ctx, scratch); err != nil {
			return err
		}
	}
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("bridge binary: %w (run make build)", err)
	}

	res := results{Config: cfg, Machine: machineInfo(), Started: time.Now().UTC()}
	progress := func(format string, a ...any) {
		fmt.Fprintf(stdout, "%s  "+format+"\n", append([]any{time.Now().Format("15:04:05")}, a...)...)
	}
	b := &bench{cfg: cfg, bin: bin, scratch: scratch, dataDir: filepath.Join(scratch, "bridge"), res: &res, progress: progress}
	if err := b.all(ctx); err != nil {
		return err
	}
	res.Finished = time.Now().UTC()
	res.evaluate()
	res.print(stdout)
	data, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(cfg.Out, append(data, '\n'), 0o644); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "written", cfg.Out)
	return nil
}

// bench holds what the phases share.
type bench struct {
	cfg      benchConfig
	bin      string
	scratch  string
	dataDir  string // the bridge's --data-dir, kept across phases
	res      *results
	progress func(format string, a ...any)
}

func (b *bench) all(ctx context.Context) error {
	b.progress("generating %d activation events", b.cfg.Events)
	msgs := activationMessages("E2E", b.cfg.Events, time.Now().UTC())

	b.progress("ceiling: publishing %d events to embedded JetStream (SyncAlways, file storage)", len(msgs))
	if err := b.ceiling(ctx, msgs); err != nil {
		return fmt.Errorf("ceiling: %w", err)
	}
	b.progress("ceiling: publish %.0f/s, consume %.0f/s", b.res.Ceiling.PublishPerSec, b.res.Ceiling.ConsumePerSec)

	w, err := startWatcher(b.scratch)
	if err != nil {
		return err
	}
	defer w.close()

	b.progress("end to end: bridge started on %d events already on the stream", len(msgs))
	if err := b.endToEnd(ctx, w, len(msgs)); err != nil {
		return fmt.Errorf("end to end: %w", err)
	}
	e := b.res.EndToEnd
	b.progress("end to end: %.0f events/s, %d Watcher calls, peak RSS %.1f MB, bbolt %.1f MB", e.PerSec, e.WatcherCalls, e.PeakRSSMB, float64(e.BboltBytes)/1e6)

	b.progress("replay: consumers reset, bbolt kept, bridge restarted")
	br, err := b.replay(ctx, w, len(msgs))
	if err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	b.progress("replay: %.0f events/s, %d Watcher calls", b.res.Replay.PerSec, b.res.Replay.WatcherCalls)

	b.progress("ingest: %d pushes of %d rows per format", b.cfg.IngestPushes, b.cfg.IngestRows)
	err = b.ingest(ctx, br)
	if serr := br.stop(); err == nil && serr != nil {
		err = serr
	}
	if err != nil {
		return fmt.Errorf("ingest: %w", err)
	}
	b.progress("ingest: CSV median %.0f rows/s, JSON median %.0f rows/s", b.res.Ingest.CSV.MedianRowsPerSec, b.res.Ingest.JSON.MedianRowsPerSec)

	b.progress("naive: %d events, one bbolt update and one POST /cameras each", b.cfg.NaiveEvents)
	if err := b.naive(ctx); err != nil {
		return fmt.Errorf("naive: %w", err)
	}
	b.progress("naive: %.0f events/s", b.res.Naive.PerSec)
	return nil
}

var errTimeout = errors.New("timed out")
