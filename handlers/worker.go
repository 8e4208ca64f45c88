package handlers

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/rs/zerolog"

	"github.com/watcherbridge/watcherbridge/events"
	"github.com/watcherbridge/watcherbridge/store"
)

// Log field names shared by every line about an event.
const (
	FieldEventID   = "event_id"
	FieldEventType = "event_type"
	FieldSubject   = "subject"
	FieldDelivery  = "delivery"
	FieldOutcome   = "outcome"
)

// DeadLetterSink stores messages the worker gives up on.
type DeadLetterSink interface {
	Put(ctx context.Context, dl events.DeadLetter) error
}

// AttemptLog keeps the failed deliveries of messages until they succeed or
// are dead-lettered.
type AttemptLog interface {
	RecordAttempt(key string, a store.Attempt) error
	Attempts(key string) ([]store.Attempt, error)
	ForgetAttempts(key string) error
}

// Ledger tells whether an event id was already handled.
type Ledger interface {
	Seen(id string) (bool, error)
}

// EventApplier is what the worker hands decoded events to.
type EventApplier interface {
	Apply(ctx context.Context, ev events.Envelope) (Outcome, error)
}

// Worker is the Watermill handler of every billing topic: it decodes the
// envelope, applies it, and decides between ack, retry and dead letter.
type Worker struct {
	applier  EventApplier
	dlq      DeadLetterSink
	attempts AttemptLog
	metrics  *Metrics
	ledger   Ledger
	log      zerolog.Logger
	// workTimeout keeps each attempt shorter than JetStream's ack wait, so
	// a message is never redelivered while it is still being worked on.
	workTimeout time.Duration
	// maxDeliveries bounds retries of failures nobody classified. Transient
	// Watcher failures are retried without limit, spaced by the Nak
	// backoff: an outage must delay cameras, not dead-letter them.
	// Permanent ones go to the dead letters at once.
	maxDeliveries uint64
}

// WorkerConfig tunes the worker.
type WorkerConfig struct {
	// MaxDeliveries bounds retries of unclassified failures.
	MaxDeliveries uint64
	// AckWait is the consumer's ack wait; each attempt gets three quarters
	// of it.
	AckWait time.Duration
	// Attempts, if set, keeps each message's failed deliveries for its
	// dead letter.
	Attempts AttemptLog
	// Metrics, if set, counts outcomes.
	Metrics *Metrics
	// Ledger, if set, lets Skip recognise an event handled before from its
	// id alone, without decoding it (a replay, a redelivery).
	Ledger Ledger
}

// NewWorker wires a worker.
func NewWorker(applier EventApplier, dlq DeadLetterSink, log zerolog.Logger, cfg WorkerConfig) *Worker {
	if cfg.MaxDeliveries == 0 {
		cfg.MaxDeliveries = 10
	}
	if cfg.AckWait <= 0 {
		cfg.AckWait = 30 * time.Second
	}
	return &Worker{applier: applier, dlq: dlq, attempts: cfg.Attempts, metrics: cfg.Metrics, ledger: cfg.Ledger, log: log, maxDeliveries: cfg.MaxDeliveries, workTimeout: cfg.AckWait * 3 / 4}
}

// Skip tells the pull subscriber (events.PullConfig.Skip) that an event
// was handled before, from its id and the ledger, so that it is acked
// without reaching the router; it counts it as a duplicate. The applier
// would find it in the ledger too, after decoding the envelope and its
// payload: in a replay of events all handled before, that decoding was
// most of the worker's CPU.
func (w *Worker) Skip(in events.Incoming) bool {
	if w.ledger == nil {
		return false
	}
	id, ok := events.PeekID(in.Body, in.Header)
	if !ok {
		return false
	}
	if seen, err := w.ledger.Seen(id); err != nil || !seen {
		return false
	}
	w.metrics.Event(in.Subject, string(Duplicate))
	if in.Delivered > 1 {
		w.forget(w.log, in.Subject+"/"+strconv.FormatUint(in.StreamSeq, 10))
	}
	return true
}

// Handle is a Watermill NoPublishHandlerFunc. Returning nil acks; an error
// nacks with a delay (see events.Backoff).
func (w *Worker) Handle(msg *message.Message) error {
	ctx := msg.Context()
	delivered := events.Delivered(msg)
	topic := msg.Metadata.Get(events.MetaSubject)
	header := metadataHeader(msg.Metadata)
	env, err := events.Decode(msg.Payload, header)
	// The child logger is built only on the paths that log: building it
	// for every event was a measurable share of the worker's allocations,
	// and the common path (handled, info level) logs nothing here.
	logger := func() zerolog.Logger {
		return w.log.With().
			Str(FieldEventID, env.ID).
			Str(FieldEventType, firstNonEmpty(env.Type, topic)).
			Str(FieldSubject, env.Subject).
			Uint64(FieldDelivery, delivered).Logger()
	}
	if err == nil && env.Type != topic {
		err = &events.InvalidError{EventID: env.ID, Field: "type", Reason: "event type " + strconv.Quote(env.Type) + " arrived on subject " + strconv.Quote(topic) + ": publish each event on the subject named by its type"}
	}
	var outcome Outcome
	if err == nil {
		actx, cancel := context.WithTimeout(WithDelivery(ctx, delivered), w.workTimeout)
		outcome, err = w.applier.Apply(actx, env)
		cancel()
	}
	key := topic + "/" + msg.Metadata.Get(events.MetaStreamSeq)
	switch {
	case err == nil:
		if w.log.GetLevel() <= zerolog.DebugLevel {
			log := logger()
			log.Debug().Str(FieldOutcome, string(outcome)).Msg("event handled")
		}
		w.metrics.Event(topic, string(outcome))
		if delivered > 1 {
			w.forget(logger(), key)
		}
		return nil
	case errors.Is(err, context.Canceled) && ctx.Err() != nil:
		return err // shutting down: the message comes back
	}
	log := logger()
	switch {
	case IsPermanent(err) || (delivered >= w.maxDeliveries && !IsRetryable(err)):
		reason := err.Error()
		if !IsPermanent(err) {
			reason = "gave up after " + strconv.FormatUint(delivered, 10) + " deliveries: " + reason
		}
		w.record(log, key, delivered, err)
		if err := w.deadLetter(ctx, log, msg, env, topic, delivered, reason, err, key); err != nil {
			return err
		}
		w.forget(log, key)
		w.metrics.Event(topic, "dead_lettered")
		return nil
	default:
		w.record(log, key, delivered, err)
		w.metrics.Event(topic, "retried")
		log.Warn().Err(err).Msg("event failed, will retry")
		return err
	}
}

func (w *Worker) record(log zerolog.Logger, key string, delivered uint64, err error) {
	if w.attempts == nil {
		return
	}
	if rerr := w.attempts.RecordAttempt(key, store.Attempt{Delivery: delivered, At: time.Now().UTC(), Error: err.Error()}); rerr != nil {
		log.Warn().Err(rerr).Msg("cannot record the failed delivery")
	}
}

func (w *Worker) forget(log zerolog.Logger, key string) {
	if w.attempts == nil {
		return
	}
	if err := w.attempts.ForgetAttempts(key); err != nil {
		log.Warn().Err(err).Msg("cannot drop the delivery history")
	}
}

func (w *Worker) deadLetter(ctx context.Context, log zerolog.Logger, msg *message.Message, env events.Envelope, topic string, delivered uint64, reason string, cause error, key string) error {
	dl := events.DeadLetter{
		Topic:      topic,
		EventID:    env.ID,
		Deliveries: delivered,
		Reason:     reason,
		Payload:    msg.Payload,
		Header:     map[string]string(msg.Metadata),
		FailedAt:   time.Now(),
	}
	dl.StreamSeq, _ = strconv.ParseUint(msg.Metadata.Get(events.MetaStreamSeq), 10, 64)
	var perm *PermanentError
	if errors.As(cause, &perm) {
		dl.WatcherStatus, dl.WatcherBody = perm.WatcherStatus, perm.WatcherBody
	}
	if w.attempts != nil {
		if hist, err := w.attempts.Attempts(key); err == nil {
			for _, a := range hist {
				dl.History = append(dl.History, events.Attempt{Delivery: a.Delivery, At: a.At, Error: a.Error})
			}
		}
	}
	if err := w.dlq.Put(ctx, dl); err != nil {
		log.Warn().Err(err).Str("reason", reason).Msg("cannot store dead letter, will retry the event")
		return err
	}
	log.Error().Str("reason", reason).Int("watcher_status", dl.WatcherStatus).Msg("event dead-lettered")
	return nil
}

// metadataHeader looks headers up case-insensitively: NATS keeps the case a
// producer used (ce-id, Ce-Id), CloudEvents says names are case-insensitive.
func metadataHeader(md message.Metadata) events.Header {
	return func(key string) string {
		if v, ok := md[key]; ok {
			return v
		}
		for k, v := range md {
			if strings.EqualFold(k, key) {
				return v
			}
		}
		return ""
	}
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
