package events

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
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

// Unmarshaler turns a JetStream message into a Watermill message. Unlike
// watermill-nats' own, it never fails: a message the subscriber cannot
// unmarshal is neither acked nor nacked and would come back forever, so a
// malformed message is passed on and the handler dead-letters it.
type Unmarshaler struct{}

// Unmarshal implements the watermill-nats Unmarshaler.
func (Unmarshaler) Unmarshal(m *nats.Msg) (*message.Message, error) {
	md := make(message.Metadata, len(m.Header)+4)
	for k, v := range m.Header {
		if len(v) > 0 {
			md[k] = v[0]
		}
	}
	md[MetaSubject] = m.Subject
	uuid := m.Header.Get(nats.MsgIdHdr)
	if meta, err := m.Metadata(); err == nil {
		md[MetaStreamSeq] = strconv.FormatUint(meta.Sequence.Stream, 10)
		md[MetaDelivered] = strconv.FormatUint(meta.NumDelivered, 10)
		md[MetaTimestamp] = meta.Timestamp.UTC().Format(time.RFC3339Nano)
		if uuid == "" {
			uuid = "seq-" + md[MetaStreamSeq]
		}
	}
	md[MetaMsgID] = m.Header.Get(nats.MsgIdHdr)
	msg := message.NewMessage(uuid, m.Data)
	msg.Metadata = md
	return msg, nil
}

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
// durable push consumers of every topic. Streams are created here, never by
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
		cfg := ConsumerConfig(topic, ackWait, maxAckPending)
		if _, err := stream.CreateOrUpdatePushConsumer(ctx, cfg); err != nil {
			return res, fmt.Errorf("create consumer %s: %w", cfg.Durable, err)
		}
	}
	return res, nil
}

// ConsumerConfig is the durable push consumer of topic. A deliver group lets
// several subscriptions (Watermill's SubscribersCount) share it, which is how
// many messages are in flight at once.
func ConsumerConfig(topic string, ackWait time.Duration, maxAckPending int) jetstream.ConsumerConfig {
	name := ConsumerName(topic)
	return jetstream.ConsumerConfig{
		Durable:        name,
		Description:    "watcherbridge worker for " + topic,
		DeliverSubject: "watcherbridge.deliver." + name,
		DeliverGroup:   name,
		DeliverPolicy:  jetstream.DeliverAllPolicy,
		AckPolicy:      jetstream.AckExplicitPolicy,
		AckWait:        ackWait,
		MaxAckPending:  maxAckPending,
		MaxDeliver:     -1,
		FilterSubject:  topic,
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
	return d
}
