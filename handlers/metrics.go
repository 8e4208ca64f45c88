package handlers

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are the bridge's Prometheus series. One value is built by serve
// and handed to every part that counts something; nothing registers
// globally.
type Metrics struct {
	reg *prometheus.Registry

	events         *prometheus.CounterVec // topic, outcome
	ingestRows     *prometheus.CounterVec // result
	watcherReqs    *prometheus.CounterVec // endpoint, status
	watcherLatency *prometheus.HistogramVec
	breakerState   prometheus.Gauge
}

// NewMetrics creates the series on a fresh registry, with Go runtime and
// process metrics.
func NewMetrics() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "watcherbridge_events_total",
			Help: "Events handled by the worker, by topic and outcome (applied, unchanged, held, duplicate, stale, retried, dead_lettered).",
		}, []string{"topic", "outcome"}),
		ingestRows: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "watcherbridge_ingest_rows_total",
			Help: "Activation rows received, by result (accepted, duplicate, rejected).",
		}, []string{"result"}),
		watcherReqs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "watcherbridge_watcher_requests_total",
			Help: "Requests to Watcher by endpoint and HTTP status (error when no answer came).",
		}, []string{"endpoint", "status"}),
		watcherLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "watcherbridge_watcher_request_duration_seconds",
			Help:    "Latency of requests to Watcher by endpoint.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 12),
		}, []string{"endpoint"}),
		breakerState: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "watcherbridge_watcher_circuit_open",
			Help: "1 while the circuit breaker in front of Watcher is open or probing, else 0.",
		}),
	}
	m.reg.MustRegister(m.events, m.ingestRows, m.watcherReqs, m.watcherLatency, m.breakerState,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Init creates the series alerts watch at zero, so the first dead letter,
// rejected row or refused key after a start shows as an increase (a series
// that first appears at 1 has none in Prometheus).
func (m *Metrics) Init(topics []string) {
	for _, t := range topics {
		for _, o := range []string{"applied", "unchanged", "held", "duplicate", "stale", "retried", "dead_lettered"} {
			m.events.WithLabelValues(t, o)
		}
	}
	for _, r := range []string{"accepted", "duplicate", "rejected"} {
		m.ingestRows.WithLabelValues(r)
	}
	for _, st := range []string{"200", "401", "403", "429", "500", "503", "error"} {
		m.watcherReqs.WithLabelValues("POST /cameras/import", st)
	}
}

// Register adds collectors of other parts (store size, consumer lag).
func (m *Metrics) Register(c ...prometheus.Collector) { m.reg.MustRegister(c...) }

// Handler serves /metrics.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Event counts one handled event.
func (m *Metrics) Event(topic, outcome string) {
	if m != nil {
		m.events.WithLabelValues(topic, outcome).Inc()
	}
}

// IngestRows counts activation rows by result.
func (m *Metrics) IngestRows(result string, n int) {
	if m != nil && n > 0 {
		m.ingestRows.WithLabelValues(result).Add(float64(n))
	}
}

// BreakerState records the circuit breaker's state.
func (m *Metrics) BreakerState(state string) {
	if m == nil {
		return
	}
	if state == "closed" {
		m.breakerState.Set(0)
	} else {
		m.breakerState.Set(1)
	}
}

// InstrumentWatcher wraps the transport of the Watcher client: requests by
// endpoint (method and path with ids replaced) and status, and latency.
func (m *Metrics) InstrumentWatcher(next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	return roundTripFunc(func(r *http.Request) (*http.Response, error) {
		start := time.Now()
		resp, err := next.RoundTrip(r)
		endpoint := r.Method + " " + endpointOf(r.URL.Path)
		m.watcherLatency.WithLabelValues(endpoint).Observe(time.Since(start).Seconds())
		status := "error"
		if err == nil {
			status = strconv.Itoa(resp.StatusCode)
		}
		m.watcherReqs.WithLabelValues(endpoint, status).Inc()
		return resp, err
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// endpointOf keeps label cardinality bounded: the API prefix is dropped and
// object names and ids become placeholders (/cameras/{name}).
func endpointOf(path string) string {
	path = strings.TrimPrefix(path, "/vsaas/api/v2")
	parts := strings.Split(strings.Trim(path, "/"), "/")
	for i, p := range parts {
		if i%2 == 1 && p != "import" {
			parts[i] = "{id}"
		}
	}
	return "/" + strings.Join(parts, "/")
}
