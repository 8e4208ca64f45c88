package events

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// PullConfig tunes a PullSubscriber.
type PullConfig struct {
	// InFlight is how many messages of one topic are handed out at once,
	// unacknowledged; it is also how many are pulled per request.
	InFlight int
	// NakDelay spaces out redeliveries after a Nack.
	NakDelay Backoff
	// CloseTimeout bounds the wait, on Close, for handlers to settle the
	// messages they hold.
	CloseTimeout time.Duration
	// Skip, if set, is asked about every message before it is handed to
	// the router; a message it says needs no handling (an event handled
	// before) is acknowledged at once, in the pulling goroutine.
	//
	// In a replay of events all handled before, the router's share (a
	// Watermill message, its metadata, a goroutine and two channel
	// handovers per message) was most of the bridge's CPU; answering them
	// here roughly doubled the replay rate of `make bench`.
	Skip func(Incoming) bool
}

// Incoming is what Skip sees of a pulled message.
type Incoming struct {
	Subject   string
	Body      []byte
	Header    Header
	Delivered uint64
	StreamSeq uint64
}

// PullSubscriber is a Watermill subscriber reading each topic from its
// durable JetStream pull consumer (see Provision).
//
// It replaces watermill-nats' subscribers because both keep one message per
// NATS subscription in flight: the bridge needed 64 subscriptions per topic
// to give the applier's group commit something to group, and the profile of
// `make bench` still showed groups of about 50 events and the applier idle
// between them. Pulling InFlight messages per request and handing them all to
// the router at once lets groups fill to --batch-size with one connection and
// one pull request per topic.
//
// Every message is acknowledged only after the router acked it (its group
// committed); a Nack becomes a Nak with NakDelay's backoff.
type PullSubscriber struct {
	stream jetstream.Stream
	cfg    PullConfig
	log    zerolog.Logger

	closing  chan struct{}
	once     sync.Once
	mu       sync.RWMutex // held for reading while a message is handed out
	closed   bool
	subs     []*pullSub
	inflight sync.WaitGroup
}

type pullSub struct {
	cc  jetstream.ConsumeContext
	out chan *message.Message
}

// NewPullSubscriber returns a subscriber over the consumers of stream.
func NewPullSubscriber(stream jetstream.Stream, cfg PullConfig, log zerolog.Logger) *PullSubscriber {
	if cfg.InFlight <= 0 {
		cfg.InFlight = 1024
	}
	if cfg.CloseTimeout <= 0 {
		cfg.CloseTimeout = 30 * time.Second
	}
	return &PullSubscriber{stream: stream, cfg: cfg, log: log, closing: make(chan struct{})}
}

// Subscribe implements message.Subscriber: it consumes topic's durable
// consumer, which must exist (Provision).
func (s *PullSubscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	cons, err := s.stream.Consumer(ctx, ConsumerName(topic))
	if err != nil {
		return nil, fmt.Errorf("consumer %s of topic %s: %w", ConsumerName(topic), topic, err)
	}
	sub := &pullSub{out: make(chan *message.Message)}
	slots := make(chan struct{}, s.cfg.InFlight)
	log := s.log.With().Str("topic", topic).Logger()
	msgCtx := context.WithoutCancel(ctx)
	handle := func(jm jetstream.Msg) {
		s.mu.RLock()
		defer s.mu.RUnlock()
		if s.closed {
			s.release(jm)
			return
		}
		if s.cfg.Skip != nil && s.cfg.Skip(incoming(jm)) {
			if err := jm.Ack(); err != nil {
				log.Warn().Err(err).Msg("ack of an event handled before not sent")
			}
			return
		}
		select {
		case slots <- struct{}{}:
		case <-s.closing:
			s.release(jm)
			return
		}
		msg := NewMessage(jm)
		// Watermill cancels the subscription's context as soon as the
		// router starts closing; a handler holding a message must still
		// finish it (Close waits up to CloseTimeout), or the Watcher call
		// it made is repeated after the restart.
		msg.SetContext(msgCtx)
		s.inflight.Add(1)
		select {
		case sub.out <- msg:
			go s.settle(msg, jm, slots, log)
		case <-s.closing:
			<-slots
			s.inflight.Done()
			s.release(jm)
		}
	}
	cc, err := cons.Consume(handle,
		jetstream.PullMaxMessages(s.cfg.InFlight),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			// The client recovers from these itself (missed heartbeats,
			// a broker restart); they are worth a line, not an exit.
			log.Warn().Err(err).Msg("pulling from JetStream")
		}))
	if err != nil {
		return nil, fmt.Errorf("consume %s: %w", ConsumerName(topic), err)
	}
	sub.cc = cc
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		cc.Stop()
		close(sub.out)
		return sub.out, nil
	}
	s.subs = append(s.subs, sub)
	return sub.out, nil
}

// release gives a message back at once: it was pulled while closing and
// never reached a handler, so another bridge (or this one restarted) should
// not have to wait out the ack wait for it.
func (s *PullSubscriber) release(jm jetstream.Msg) {
	if err := jm.Nak(); err != nil {
		s.log.Debug().Err(err).Msg("give back a message pulled while closing")
	}
}

// settle waits for the router's verdict on msg and passes it to JetStream.
func (s *PullSubscriber) settle(msg *message.Message, jm jetstream.Msg, slots chan struct{}, log zerolog.Logger) {
	defer s.inflight.Done()
	defer func() { <-slots }()
	select {
	case <-msg.Acked():
		if err := jm.Ack(); err != nil {
			// The message comes back after the ack wait and is found in
			// the ledger: a delay, never a second write.
			log.Warn().Err(err).Str(MetaStreamSeq, msg.Metadata.Get(MetaStreamSeq)).Msg("ack not sent")
		}
	case <-msg.Nacked():
		if err := jm.NakWithDelay(s.cfg.NakDelay.WaitTime(Delivered(msg))); err != nil {
			log.Warn().Err(err).Str(MetaStreamSeq, msg.Metadata.Get(MetaStreamSeq)).Msg("nak not sent")
		}
	}
}

// Close stops pulling, gives back what was pulled but not handed out, waits
// up to CloseTimeout for the handlers to settle what they hold, and closes
// the output channels.
func (s *PullSubscriber) Close() error {
	var err error
	s.once.Do(func() {
		close(s.closing)
		s.mu.Lock()
		s.closed = true
		subs := s.subs
		s.mu.Unlock()
		for _, sub := range subs {
			sub.cc.Drain()
		}
		for _, sub := range subs {
			select {
			case <-sub.cc.Closed():
			case <-time.After(s.cfg.CloseTimeout):
			}
			close(sub.out)
		}
		done := make(chan struct{})
		go func() { s.inflight.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(s.cfg.CloseTimeout):
			err = errors.New("pull subscriber: handlers still held messages after " + s.cfg.CloseTimeout.String() + "; JetStream redelivers them after the ack wait")
		}
	})
	return err
}

func incoming(jm jetstream.Msg) Incoming {
	h := jm.Headers()
	in := Incoming{Subject: jm.Subject(), Body: jm.Data(), Header: natsHeader(h)}
	if meta, err := jm.Metadata(); err == nil {
		in.Delivered, in.StreamSeq = meta.NumDelivered, meta.Sequence.Stream
	}
	return in
}

// natsHeader reads NATS headers as envelopes name them: CloudEvents
// attributes are case-insensitive, NATS header keys are not.
func natsHeader(h map[string][]string) Header {
	return func(key string) string {
		if v := h[key]; len(v) > 0 {
			return v[0]
		}
		for k, v := range h {
			if len(v) > 0 && strings.EqualFold(k, key) {
				return v[0]
			}
		}
		return ""
	}
}

// NewMessage turns a JetStream message into a Watermill message carrying
// its headers and where it came from (the Meta* keys). It never fails: a
// malformed message is passed on and the handler dead-letters it.
func NewMessage(jm jetstream.Msg) *message.Message {
	h := jm.Headers()
	md := make(message.Metadata, len(h)+5)
	for k, v := range h {
		if len(v) > 0 {
			md[k] = v[0]
		}
	}
	md[MetaSubject] = jm.Subject()
	uuid := h.Get(jetstream.MsgIDHeader)
	if meta, err := jm.Metadata(); err == nil {
		md[MetaStreamSeq] = strconv.FormatUint(meta.Sequence.Stream, 10)
		md[MetaDelivered] = strconv.FormatUint(meta.NumDelivered, 10)
		md[MetaTimestamp] = meta.Timestamp.UTC().Format(time.RFC3339Nano)
		if uuid == "" {
			uuid = "seq-" + md[MetaStreamSeq]
		}
	}
	md[MetaMsgID] = h.Get(jetstream.MsgIDHeader)
	msg := message.NewMessage(uuid, jm.Data())
	msg.Metadata = md
	return msg
}
