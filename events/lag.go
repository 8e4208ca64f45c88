package events

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

// LagCollector reports, at each scrape, how far every consumer of the
// bridge is behind: messages not yet delivered and messages delivered but
// not acknowledged.
type LagCollector struct {
	js      jetstream.JetStream
	pending *prometheus.Desc
	ackPend *prometheus.Desc
	dead    *prometheus.Desc
}

// NewLagCollector returns a collector over js.
func NewLagCollector(js jetstream.JetStream) *LagCollector {
	return &LagCollector{
		js:      js,
		pending: prometheus.NewDesc("watcherbridge_consumer_pending_messages", "Messages of a topic not yet delivered to the worker.", []string{"topic"}, nil),
		ackPend: prometheus.NewDesc("watcherbridge_consumer_ack_pending_messages", "Messages of a topic delivered but not yet acknowledged.", []string{"topic"}, nil),
		dead:    prometheus.NewDesc("watcherbridge_dead_letters", "Messages held in the DEADLETTER stream.", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *LagCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.pending
	ch <- c.ackPend
	ch <- c.dead
}

// Collect implements prometheus.Collector; a broker that does not answer
// within a second leaves the series out rather than blocking the scrape.
func (c *LagCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	for _, topic := range Topics() {
		cons, err := c.js.Consumer(ctx, Stream, ConsumerName(topic))
		if err != nil {
			continue
		}
		info, err := cons.Info(ctx)
		if err != nil {
			continue
		}
		ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(info.NumPending), topic)
		ch <- prometheus.MustNewConstMetric(c.ackPend, prometheus.GaugeValue, float64(info.NumAckPending), topic)
	}
	if s, err := c.js.Stream(ctx, DeadLetterStream); err == nil {
		if info, err := s.Info(ctx); err == nil {
			ch <- prometheus.MustNewConstMetric(c.dead, prometheus.GaugeValue, float64(info.State.Msgs))
		}
	}
}
