package events

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
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

// DeadLetters publishes dead letters to their own stream.
type DeadLetters struct {
	pub *Publisher
}

// NewDeadLetters returns a dead-letter sink over pub.
func NewDeadLetters(pub *Publisher) *DeadLetters { return &DeadLetters{pub: pub} }

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
	_, err := d.pub.PublishAll(ctx, []Outgoing{{Subject: DeadLetterSubject(dl.Topic), ID: id, Data: dl.Payload, Header: h}})
	return err
}

// oneLine makes s fit a header value: no line breaks, bounded length.
func oneLine(s string, max int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > max {
		s = s[:max] + "…"
	}
	return s
}
