package events

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Outgoing is one message to put on JetStream.
type Outgoing struct {
	Subject string
	ID      string // becomes Nats-Msg-Id, the stream's deduplication key
	Data    []byte
	Header  nats.Header
}

// Publisher puts messages on JetStream and waits for the stream to
// acknowledge them. It talks to JetStream directly rather than through
// Watermill because ingest needs each message's acknowledgement (to count
// duplicates) and publishes a whole push at once.
type Publisher struct {
	js jetstream.JetStream
}

// NewPublisher returns a publisher over js.
func NewPublisher(js jetstream.JetStream) *Publisher {
	return &Publisher{js: js}
}

// UnavailableError means JetStream did not take every message; the caller
// may send the same messages again (their ids make that safe).
type UnavailableError struct {
	Published int
	Err       error
}

func (e *UnavailableError) Error() string {
	return fmt.Sprintf("jetstream unavailable after %d messages: %v", e.Published, e.Err)
}

func (e *UnavailableError) Unwrap() error { return e.Err }

// PublishAll publishes msgs and returns once JetStream acknowledged all of
// them, telling for each whether the stream already held it (a duplicate by
// id). Publishing is
// pipelined: every message is in flight before the first acknowledgement is
// awaited, so a push of thousands of rows costs about one round trip.
func (p *Publisher) PublishAll(ctx context.Context, msgs []Outgoing) (duplicate []bool, err error) {
	futures := make([]jetstream.PubAckFuture, 0, len(msgs))
	for _, m := range msgs {
		nm := &nats.Msg{Subject: m.Subject, Data: m.Data, Header: m.Header}
		if nm.Header == nil {
			nm.Header = nats.Header{}
		}
		f, err := p.js.PublishMsgAsync(nm, jetstream.WithMsgID(m.ID), jetstream.WithExpectStream(streamOf(m.Subject)),
			// A push of thousands of rows fills the async window; wait for
			// room instead of failing the push.
			jetstream.WithStallWait(30*time.Second))
		if err != nil {
			return nil, &UnavailableError{Published: 0, Err: err}
		}
		futures = append(futures, f)
	}
	duplicate = make([]bool, len(msgs))
	for i, f := range futures {
		select {
		case ack := <-f.Ok():
			duplicate[i] = ack.Duplicate
		case err := <-f.Err():
			return nil, &UnavailableError{Published: i, Err: err}
		case <-ctx.Done():
			return nil, &UnavailableError{Published: i, Err: ctx.Err()}
		}
	}
	return duplicate, nil
}

// PublishEnvelope publishes one event on the topic named by its type.
func (p *Publisher) PublishEnvelope(ctx context.Context, env Envelope) (duplicate bool, err error) {
	data, err := env.Encode()
	if err != nil {
		return false, err
	}
	dup, err := p.PublishAll(ctx, []Outgoing{{Subject: env.Type, ID: env.ID, Data: data}})
	return err == nil && dup[0], err
}

func streamOf(subject string) string {
	if len(subject) >= len(DeadLetterPrefix) && subject[:len(DeadLetterPrefix)] == DeadLetterPrefix {
		return DeadLetterStream
	}
	return Stream
}

// IsUnavailable tells whether err means JetStream could not take a message.
func IsUnavailable(err error) bool {
	var u *UnavailableError
	return errors.As(err, &u)
}

// JetStreamOptions are the client settings the bridge uses.
func JetStreamOptions() []jetstream.JetStreamOpt {
	return []jetstream.JetStreamOpt{
		jetstream.WithPublishAsyncMaxPending(4096),
		jetstream.WithPublishAsyncTimeout(2 * time.Minute),
	}
}
