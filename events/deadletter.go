package events

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	wmnats "github.com/ThreeDotsLabs/watermill-nats/v2/pkg/nats"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"
)

// Headers a dead letter carries besides the original message's own.
const (
	HdrReason        = "Watcherbridge-Reason"
	HdrWatcherStatus = "Watcherbridge-Watcher-Status"
	HdrWatcherBody   = "Watcherbridge-Watcher-Body"
	HdrTopic         = "Watcherbridge-Topic"
	HdrStreamSeq     = "Watcherbridge-Stream-Seq"
	HdrDeliveries    = "Watcherbridge-Deliveries"
	HdrEventID       = "Watcherbridge-Event-Id"
	HdrFailedAt      = "Watcherbridge-Failed-At"
	HdrHistory       = "Watcherbridge-History"
)

// Attempt is one failed delivery, as listed in a dead letter's history.
type Attempt struct {
	Delivery uint64    `json:"delivery"`
	At       time.Time `json:"at"`
	Error    string    `json:"error"`
}

// DeadLetter is a message the worker gave up on, with why.
type DeadLetter struct {
	Topic         string
	EventID       string
	StreamSeq     uint64
	Deliveries    uint64
	Reason        string
	WatcherStatus int
	WatcherBody   string
	Payload       []byte            // the original body, untouched
	Header        map[string]string // the original headers
	FailedAt      time.Time
	History       []Attempt // every failed delivery, oldest first
}

// DeadLetters publishes dead letters to their own stream, through a
// Watermill publisher (NewDeadLetterPublisher).
type DeadLetters struct {
	pub message.Publisher
}

// NewDeadLetters returns a dead-letter sink over pub.
func NewDeadLetters(pub message.Publisher) *DeadLetters { return &DeadLetters{pub: pub} }

// NewDeadLetterPublisher is the Watermill publisher of dead letters:
// watermill-nats' JetStream publisher, which waits for the stream's
// acknowledgement of each message, with headerMarshaler so that a dead
// letter carries the original headers and nothing of Watermill's.
func NewDeadLetterPublisher(nc *nats.Conn, log zerolog.Logger) (message.Publisher, error) {
	return wmnats.NewPublisherWithNatsConn(nc, wmnats.PublisherPublishConfig{
		Marshaler:         headerMarshaler{},
		SubjectCalculator: wmnats.DefaultSubjectCalculator,
		JetStream: wmnats.JetStreamConfig{
			PublishOptions: []nats.PubOpt{nats.ExpectStream(DeadLetterStream)},
		},
	}, NewWatermillLogger(log))
}

// headerMarshaler maps a Watermill message's metadata to NATS headers and
// its UUID to Nats-Msg-Id, the stream's deduplication key.
type headerMarshaler struct{}

func (headerMarshaler) Marshal(topic string, msg *message.Message) (*nats.Msg, error) {
	h := make(nats.Header, len(msg.Metadata)+1)
	for k, v := range msg.Metadata {
		h.Set(k, v)
	}
	h.Set(nats.MsgIdHdr, msg.UUID)
	return &nats.Msg{Subject: topic, Data: msg.Payload, Header: h}, nil
}

func (headerMarshaler) Unmarshal(m *nats.Msg) (*message.Message, error) {
	msg := message.NewMessage(m.Header.Get(nats.MsgIdHdr), m.Data)
	for k, v := range m.Header {
		if len(v) > 0 {
			msg.Metadata[k] = v[0]
		}
	}
	return msg, nil
}

// Put stores dl durably. Its id is derived from the original stream
// sequence, so a crash between this and the original's ack does not store
// it twice.
func (d *DeadLetters) Put(ctx context.Context, dl DeadLetter) error {
	h := nats.Header{}
	for k, v := range dl.Header {
		// Broker headers (Nats-Msg-Id, Nats-Expected-Stream...) belong to the
		// original publish, not to the dead letter.
		if strings.HasPrefix(strings.ToLower(k), "nats") || strings.HasPrefix(k, "Watcherbridge-") {
			continue
		}
		h.Set(k, v)
	}
	h.Set(HdrReason, oneLine(dl.Reason, 1024))
	h.Set(HdrTopic, dl.Topic)
	h.Set(HdrEventID, dl.EventID)
	h.Set(HdrStreamSeq, strconv.FormatUint(dl.StreamSeq, 10))
	h.Set(HdrDeliveries, strconv.FormatUint(dl.Deliveries, 10))
	h.Set(HdrFailedAt, dl.FailedAt.UTC().Format(time.RFC3339Nano))
	if dl.WatcherStatus != 0 {
		h.Set(HdrWatcherStatus, strconv.Itoa(dl.WatcherStatus))
	}
	if dl.WatcherBody != "" {
		h.Set(HdrWatcherBody, oneLine(dl.WatcherBody, 1024))
	}
	if len(dl.History) > 0 {
		if b, err := json.Marshal(dl.History); err == nil {
			h.Set(HdrHistory, string(b))
		}
	}
	id := "dlq-" + dl.Topic + "-" + strconv.FormatUint(dl.StreamSeq, 10)
	if dl.StreamSeq == 0 {
		id = "dlq-" + dl.EventID
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	msg := message.NewMessage(id, dl.Payload)
	for k := range h {
		msg.Metadata[k] = h.Get(k)
	}
	if err := d.pub.Publish(DeadLetterSubject(dl.Topic), msg); err != nil {
		return fmt.Errorf("publish dead letter of %s stream sequence %d: %w", dl.Topic, dl.StreamSeq, err)
	}
	return nil
}

// oneLine makes s fit a header value: no line breaks, bounded length.
func oneLine(s string, max int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > max {
		s = s[:max] + "…"
	}
	return s
}
