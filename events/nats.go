package events

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go/jetstream"
)

// Metadata keys the unmarshaler sets on every Watermill message, so handlers
// know where a message came from without touching NATS types.
const (
	MetaSubject   = "nats_subject"
	MetaStreamSeq = "nats_stream_seq"
	MetaDelivered = "nats_delivered"
	MetaTimestamp = "nats_timestamp"
	MetaMsgID     = "Nats-Msg-Id"
)

// Delivered is how many times JetStream has delivered msg, 1 on the first.
func Delivered(msg *message.Message) uint64 {
	n, _ := strconv.ParseUint(msg.Metadata.Get(MetaDelivered), 10, 64)
	return n
}

// Backoff spaces out redeliveries after a Nack. A plain Nak redelivers at
// once (JetStream's BackOff applies only to ack-wait expiry), which turns a
// Watcher outage into a hot loop; this returns exponential delays with
// jitter for NakWithDelay.
type Backoff struct {
	Base time.Duration
	Max  time.Duration
}

// WaitTime implements watermill-nats' Delay.
func (b Backoff) WaitTime(delivered uint64) time.Duration {
	base, maxd := b.Base, b.Max
	if base <= 0 {
		base = 500 * time.Millisecond
	}
	if maxd < base {
		maxd = base
	}
	d := base
	for i := uint64(1); i < delivered && d < maxd; i++ {
		d *= 2
	}
	d = min(d, maxd)
	// Full jitter on the upper half keeps many failed messages from
	// coming back in lockstep.
	return d/2 + rand.N(d/2+1)
}

// ProvisionResult tells what Provision found, for the caller to log.
type ProvisionResult struct {
	Created []string // streams or consumers created
	Drift   []string // differences between an existing stream and ours
}

// Provision creates the BILLING and DEADLETTER streams when missing and the
// durable pull consumers of every topic. Streams are created here, never by
// Watermill, because the library would name a stream after the topic (dots
// are invalid there) and delete consumers it made when it closes. An
// existing stream with another configuration is kept as the operator made
// it; the differences are reported.
func Provision(ctx context.Context, js jetstream.JetStream, replicas int, dlqMaxAge time.Duration, ackWait time.Duration, maxAckPending int) (ProvisionResult, error) {
	var res ProvisionResult
	for _, want := range []jetstream.StreamConfig{StreamConfig(replicas), DeadLetterStreamConfig(replicas, dlqMaxAge)} {
		s, err := js.Stream(ctx, want.Name)
		switch {
		case errors.Is(err, jetstream.ErrStreamNotFound):
			if _, err := js.CreateStream(ctx, want); err != nil {
				return res, fmt.Errorf("create stream %s: %w", want.Name, err)
			}
			res.Created = append(res.Created, "stream "+want.Name)
		case err != nil:
			return res, fmt.Errorf("look up stream %s: %w", want.Name, err)
		default:
			res.Drift = append(res.Drift, streamDrift(s.CachedInfo().Config, want)...)
		}
	}
	stream, err := js.Stream(ctx, Stream)
	if err != nil {
		return res, fmt.Errorf("look up stream %s: %w", Stream, err)
	}
	for _, topic := range Topics() {
		created, err := EnsureConsumer(ctx, stream, ConsumerConfig(topic, ackWait, maxAckPending))
		if err != nil {
			return res, err
		}
		if created != "" {
			res.Created = append(res.Created, created)
		}
	}
	return res, nil
}

// EnsureConsumer creates the durable pull consumer cfg, or brings an
// existing one to cfg. What it did is returned for the caller to log, empty
// when the consumer was only updated.
//
// Bridges before the pull subscriber made push consumers of the same names,
// and JetStream cannot turn one kind into the other. Such a consumer is
// replaced by a pull consumer starting after the old one's ack floor: the
// few messages acknowledged above the floor come again and are found in the
// store's ledger, so nothing is applied twice and nothing is skipped.
func EnsureConsumer(ctx context.Context, stream jetstream.Stream, cfg jetstream.ConsumerConfig) (string, error) {
	cons, err := stream.Consumer(ctx, cfg.Durable)
	switch {
	case errors.Is(err, jetstream.ErrConsumerNotFound):
		if _, err := stream.CreateConsumer(ctx, cfg); err != nil {
			return "", fmt.Errorf("create consumer %s: %w", cfg.Durable, err)
		}
		return "consumer " + cfg.Durable, nil
	case errors.Is(err, jetstream.ErrNotPullConsumer):
		return migratePushConsumer(ctx, stream, cfg)
	case err != nil:
		return "", fmt.Errorf("look up consumer %s: %w", cfg.Durable, err)
	}
	// Where a consumer starts cannot be changed; keep the existing one's.
	have := cons.CachedInfo().Config
	cfg.DeliverPolicy, cfg.OptStartSeq, cfg.OptStartTime = have.DeliverPolicy, have.OptStartSeq, have.OptStartTime
	if _, err := stream.UpdateConsumer(ctx, cfg); err != nil {
		return "", fmt.Errorf("update consumer %s: %w", cfg.Durable, err)
	}
	return "", nil
}

func migratePushConsumer(ctx context.Context, stream jetstream.Stream, cfg jetstream.ConsumerConfig) (string, error) {
	old, err := stream.PushConsumer(ctx, cfg.Durable)
	if err != nil {
		return "", fmt.Errorf("look up push consumer %s: %w", cfg.Durable, err)
	}
	info, err := old.Info(ctx)
	if err != nil {
		return "", fmt.Errorf("look up push consumer %s: %w", cfg.Durable, err)
	}
	floor := info.AckFloor.Stream
	if err := stream.DeleteConsumer(ctx, cfg.Durable); err != nil {
		return "", fmt.Errorf("replace push consumer %s: %w", cfg.Durable, err)
	}
	if floor > 0 {
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, floor+1
	}
	if _, err := stream.CreateConsumer(ctx, cfg); err != nil {
		return "", fmt.Errorf("create consumer %s (replacing a push consumer acknowledged up to stream sequence %d): %w", cfg.Durable, floor, err)
	}
	return fmt.Sprintf("pull consumer %s in place of the push consumer of an earlier version, from stream sequence %d", cfg.Durable, floor+1), nil
}

// ConsumerConfig is the durable pull consumer of topic. The worker pulls
// many messages at once (see PullSubscriber); maxAckPending bounds them.
func ConsumerConfig(topic string, ackWait time.Duration, maxAckPending int) jetstream.ConsumerConfig {
	name := ConsumerName(topic)
	return jetstream.ConsumerConfig{
		Durable:       name,
		Description:   "watcherbridge worker for " + topic,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       ackWait,
		MaxAckPending: maxAckPending,
		MaxDeliver:    -1,
		FilterSubject: topic,
	}
}

func streamDrift(have, want jetstream.StreamConfig) []string {
	var d []string
	diff := func(field string, h, w any) {
		if fmt.Sprint(h) != fmt.Sprint(w) {
			d = append(d, fmt.Sprintf("stream %s %s is %v, the bridge would create %v", want.Name, field, h, w))
		}
	}
	diff("subjects", have.Subjects, want.Subjects)
	diff("storage", have.Storage, want.Storage)
	diff("retention", have.Retention, want.Retention)
	diff("duplicate window", have.Duplicates, want.Duplicates)
	diff("max age", have.MaxAge, want.MaxAge)
	diff("replicas", have.Replicas, want.Replicas)
	if want.AllowAtomicPublish && !have.AllowAtomicPublish {
		d = append(d, fmt.Sprintf("stream %s does not allow atomic batch publishing, so ingest stores a push one row at a time with one fsync each, "+
			"far slower; enable it with `nats stream edit %s --allow-batch` (\"allow_atomic\": true in the stream's JSON, nats-server 2.12 or later)", want.Name, want.Name))
	}
	return d
}
