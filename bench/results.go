package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"
)

// results is everything one run measured; it is written as JSON.
type results struct {
	Config   benchConfig    `json:"config"`
	Machine  machine        `json:"machine"`
	Started  time.Time      `json:"started"`
	Finished time.Time      `json:"finished"`
	Ceiling  ceilingResult  `json:"ceiling"`
	Ingest   ingestResult   `json:"ingest"`
	EndToEnd endToEndResult `json:"end_to_end"`
	Replay   replayResult   `json:"replay"`
	Naive    naiveResult    `json:"naive"`
	Ratios   ratios         `json:"ratios"`
	Targets  []target       `json:"targets"`
}

type machine struct {
	NumCPU    int    `json:"nproc"`
	CPUModel  string `json:"cpu_model"`
	MemoryMB  int    `json:"memory_mb"`
	GoVersion string `json:"go_version"`
	OS        string `json:"os"`
}

type ceilingResult struct {
	Events        int     `json:"events"`
	PublishSec    float64 `json:"publish_seconds"`
	PublishPerSec float64 `json:"publish_events_per_sec"`
	ConsumeSec    float64 `json:"consume_seconds"`
	ConsumePerSec float64 `json:"consume_events_per_sec"`
}

type pushStats struct {
	Pushes           int       `json:"pushes"`
	Rows             int       `json:"rows_per_push"`
	LatencyMS        []float64 `json:"latency_ms"`
	MedianLatencyMS  float64   `json:"median_latency_ms"`
	MedianRowsPerSec float64   `json:"median_rows_per_sec"`
	MinRowsPerSec    float64   `json:"min_rows_per_sec"`
}

type ingestResult struct {
	CSV  pushStats `json:"csv"`
	JSON pushStats `json:"json"`
}

type endToEndResult struct {
	Events         int     `json:"events"`
	Seconds        float64 `json:"seconds"`
	PerSec         float64 `json:"events_per_sec"`
	StartupSec     float64 `json:"startup_seconds"`
	WatcherCalls   int     `json:"watcher_calls"`
	ImportCalls    int     `json:"watcher_import_calls"`
	CamerasHeld    int     `json:"cameras_in_watcher"`
	CreatedTwice   int     `json:"cameras_created_twice"`
	PeakRSSMB      float64 `json:"peak_rss_mb"`
	BboltBytes     int64   `json:"bbolt_bytes"`
	BboltPerCamera float64 `json:"bbolt_bytes_per_camera"`
}

type replayResult struct {
	Events       int     `json:"events"`
	Seconds      float64 `json:"seconds"`
	PerSec       float64 `json:"events_per_sec"`
	StartupSec   float64 `json:"startup_seconds"`
	WatcherCalls int     `json:"watcher_calls"`
	PeakRSSMB    float64 `json:"peak_rss_mb"`
}

type naiveResult struct {
	Events  int     `json:"events"`
	Seconds float64 `json:"seconds"`
	PerSec  float64 `json:"events_per_sec"`
	Calls   int     `json:"watcher_calls"`
}

type ratios struct {
	EndToEndOverCeilingConsume float64 `json:"end_to_end_over_ceiling_consume"`
	EndToEndOverNaive          float64 `json:"end_to_end_over_naive"`
	ReplayOverCeilingConsume   float64 `json:"replay_over_ceiling_consume"`
}

type target struct {
	Name   string `json:"name"`
	Want   string `json:"want"`
	Got    string `json:"got"`
	Passed bool   `json:"passed"`
}

// evaluate computes the ratios and checks the targets of issue 7.
func (r *results) evaluate() {
	r.Ratios = ratios{
		EndToEndOverCeilingConsume: div(r.EndToEnd.PerSec, r.Ceiling.ConsumePerSec),
		EndToEndOverNaive:          div(r.EndToEnd.PerSec, r.Naive.PerSec),
		ReplayOverCeilingConsume:   div(r.Replay.PerSec, r.Ceiling.ConsumePerSec),
	}
	n := r.EndToEnd.Events
	add := func(name, want, got string, ok bool) {
		r.Targets = append(r.Targets, target{Name: name, Want: want, Got: got, Passed: ok})
	}
	add("end to end vs ceiling consume", ">= 25%", pct(r.Ratios.EndToEndOverCeilingConsume), r.Ratios.EndToEndOverCeilingConsume >= 0.25)
	add("end to end vs naive", ">= 20x", fmt.Sprintf("%.1fx", r.Ratios.EndToEndOverNaive), r.Ratios.EndToEndOverNaive >= 20)
	add("ingest CSV, 10,000-row push", ">= 50,000 rows/s", fmt.Sprintf("%.0f rows/s (median)", r.Ingest.CSV.MedianRowsPerSec), r.Ingest.CSV.MedianRowsPerSec >= 50_000)
	add("ingest JSON, 10,000-row push", ">= 50,000 rows/s", fmt.Sprintf("%.0f rows/s (median)", r.Ingest.JSON.MedianRowsPerSec), r.Ingest.JSON.MedianRowsPerSec >= 50_000)
	add("replay vs ceiling consume", ">= 50%", pct(r.Ratios.ReplayOverCeilingConsume), r.Ratios.ReplayOverCeilingConsume >= 0.5)
	add("replay Watcher calls", "0", fmt.Sprint(r.Replay.WatcherCalls), r.Replay.WatcherCalls == 0)
	add("Watcher calls for new cameras", fmt.Sprintf("<= 1 per 200 (%d)", n/200), fmt.Sprintf("%d (1 per %.0f)", r.EndToEnd.WatcherCalls, div(float64(n), float64(r.EndToEnd.WatcherCalls))),
		r.EndToEnd.WatcherCalls <= n/200 && r.EndToEnd.CamerasHeld == n)
	add("peak RSS, end to end", "< 150 MB", fmt.Sprintf("%.1f MB", r.EndToEnd.PeakRSSMB), r.EndToEnd.PeakRSSMB < 150)
	add("bbolt file per camera", "< 1 KB", fmt.Sprintf("%.0f B", r.EndToEnd.BboltPerCamera), r.EndToEnd.BboltPerCamera < 1024)
}

func (r *results) print(w io.Writer) {
	fmt.Fprintf(w, "\nwatcherbridge bench: %d events; %d CPUs (%s), %d MB, %s\n\n", r.EndToEnd.Events, r.Machine.NumCPU, r.Machine.CPUModel, r.Machine.MemoryMB, r.Machine.GoVersion)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(cols ...string) { fmt.Fprintln(tw, strings.Join(cols, "\t")+"\t") }
	row("measure", "events", "seconds", "events/s", "notes")
	row("-------", "------", "-------", "--------", "-----")
	c := r.Ceiling
	row("ceiling publish (JetStream alone)", num(c.Events), sec(c.PublishSec), rate(c.PublishPerSec), "atomic batches of 10,000 as ingest sends them, msg ids, SyncAlways")
	row("ceiling consume (JetStream alone)", num(c.Events), sec(c.ConsumeSec), rate(c.ConsumePerSec), "pull, ack each")
	e := r.EndToEnd
	row("end to end (bridge)", num(e.Events), sec(e.Seconds), rate(e.PerSec),
		fmt.Sprintf("%d Watcher calls, peak RSS %.1f MB, bbolt %.1f MB (%.0f B/camera), start-up %.2fs", e.WatcherCalls, e.PeakRSSMB, float64(e.BboltBytes)/1e6, e.BboltPerCamera, e.StartupSec))
	p := r.Replay
	row("replay, nothing to change", num(p.Events), sec(p.Seconds), rate(p.PerSec), fmt.Sprintf("%d Watcher calls, peak RSS %.1f MB", p.WatcherCalls, p.PeakRSSMB))
	n := r.Naive
	row("naive (fsync + POST per event)", num(n.Events), sec(n.Seconds), rate(n.PerSec), fmt.Sprintf("%d Watcher calls", n.Calls))
	for _, f := range []struct {
		name string
		s    pushStats
	}{{"ingest CSV push", r.Ingest.CSV}, {"ingest JSON push", r.Ingest.JSON}} {
		row(f.name, num(f.s.Rows), sec(f.s.MedianLatencyMS/1000), rate(f.s.MedianRowsPerSec),
			fmt.Sprintf("median of %d pushes (rows/s, latency); slowest %.0f rows/s", f.s.Pushes, f.s.MinRowsPerSec))
	}
	tw.Flush()
	fmt.Fprintf(w, "\nend to end / ceiling consume = %s, end to end / naive = %.1fx, replay / ceiling consume = %s\n\n",
		pct(r.Ratios.EndToEndOverCeilingConsume), r.Ratios.EndToEndOverNaive, pct(r.Ratios.ReplayOverCeilingConsume))
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row("target", "want", "got", "")
	row("------", "----", "---", "")
	for _, t := range r.Targets {
		verdict := "PASS"
		if !t.Passed {
			verdict = "MISS"
		}
		row(t.Name, t.Want, t.Got, verdict)
	}
	tw.Flush()
	fmt.Fprintln(w)
}

func machineInfo() machine {
	m := machine{NumCPU: runtime.NumCPU(), GoVersion: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH}
	m.CPUModel = procField("/proc/cpuinfo", "model name")
	if kb := procField("/proc/meminfo", "MemTotal"); kb != "" {
		var n int
		fmt.Sscanf(kb, "%d", &n)
		m.MemoryMB = n / 1024
	}
	return m
}

// procField returns the value of the first "key: value" line of a /proc file.
func procField(path, key string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func div(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

func pct(f float64) string  { return fmt.Sprintf("%.0f%%", f*100) }
func sec(s float64) string  { return fmt.Sprintf("%.2f", s) }
func rate(f float64) string { return fmt.Sprintf("%.0f", f) }
func num(n int) string      { return fmt.Sprint(n) }
