package events

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// pullSetup is a JetStream with the bridge's streams, n camera.activated
// messages on BILLING, and the topic's durable consumer.
func pullSetup(t *testing.T, n int, ackWait time.Duration) (jetstream.JetStream, jetstream.Stream) {
	t.Helper()
	js := startJetStream(t, server.JSLimitOpts{})
	createStreams(t, js, StreamConfig(1))
	if n > 0 {
		if _, err := NewPublisher(js, 0).PublishAll(t.Context(), rows(0, n)); err != nil {
			t.Fatal(err)
		}
	}
	stream, err := js.Stream(t.Context(), Stream)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := EnsureConsumer(t.Context(), stream, ConsumerConfig(CameraActivated, ackWait, 1024)); err != nil {
		t.Fatal(err)
	}
	return js, stream
}

func receive(t *testing.T, ch <-chan *message.Message, n int) []*message.Message {
	t.Helper()
	var got []*message.Message
	deadline := time.After(10 * time.Second)
	for len(got) < n {
		select {
		case m := <-ch:
			got = append(got, m)
		case <-deadline:
			t.Fatalf("received %d messages, want %d", len(got), n)
		}
	}
	return got
}

func waitConsumer(t *testing.T, stream jetstream.Stream, what string, ok func(*jetstream.ConsumerInfo) bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		cons, err := stream.Consumer(t.Context(), ConsumerName(CameraActivated))
		if err != nil {
			t.Fatal(err)
		}
		info, err := cons.Info(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if ok(info) {
			return
		}
		select {
		case <-deadline:
			t.Fatalf("consumer never reached %s: ack floor %d, %d awaiting ack, %d pending, %d redelivered",
				what, info.AckFloor.Stream, info.NumAckPending, info.NumPending, info.NumRedelivered)
		case <-tick.C:
		}
	}
}

// The subscriber hands many messages out at once (the applier's groups need
// them) and settles each exactly as the router did: an ack is an ack, a
// nack comes back later with its delivery count raised.
func TestPullSubscriberHandsOutManyAndSettlesEachAsTheRouterDid(t *testing.T) {
	_, stream := pullSetup(t, 40, time.Minute)
	sub := NewPullSubscriber(stream, PullConfig{InFlight: 64, NakDelay: Backoff{Base: 10 * time.Millisecond, Max: 10 * time.Millisecond}}, zerolog.Nop())
	t.Cleanup(func() { _ = sub.Close() })
	ch, err := sub.Subscribe(t.Context(), CameraActivated)
	if err != nil {
		t.Fatal(err)
	}
	// All 40 arrive before any is settled.
	got := receive(t, ch, 40)
	nacked := map[string]bool{}
	for i, m := range got {
		if m.Metadata.Get(MetaSubject) != CameraActivated || m.Metadata.Get(MetaStreamSeq) == "" || Delivered(m) != 1 {
			t.Fatalf("message %d metadata: %v", i, m.Metadata)
		}
		if i%4 == 0 {
			nacked[m.UUID] = true
			m.Nack()
		} else {
			m.Ack()
		}
	}
	again := receive(t, ch, len(nacked))
	for _, m := range again {
		if !nacked[m.UUID] || Delivered(m) != 2 {
			t.Fatalf("redelivered %s (delivery %d); only the %d nacked ones should come back, once", m.UUID, Delivered(m), len(nacked))
		}
		m.Ack()
	}
	waitConsumer(t, stream, "every message acked", func(i *jetstream.ConsumerInfo) bool {
		return i.AckFloor.Stream == 40 && i.NumAckPending == 0
	})
}

// Closing gives back at once what was pulled but never handed out, and
// waits for the handlers to settle the rest: a restarted bridge does not
// wait out the ack wait, and nothing handled is redelivered.
func TestPullSubscriberCloseGivesBackWhatNoHandlerHeld(t *testing.T) {
	js, stream := pullSetup(t, 30, time.Hour)
	sub := NewPullSubscriber(stream, PullConfig{InFlight: 4, CloseTimeout: 10 * time.Second}, zerolog.Nop())
	ch, err := sub.Subscribe(t.Context(), CameraActivated)
	if err != nil {
		t.Fatal(err)
	}
	held := receive(t, ch, 4)
	closed := make(chan error, 1)
	go func() { closed <- sub.Close() }()
	// The behaviour under test is that Close blocks: it must not return
	// within this window while handlers hold messages.
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) while handlers still held messages", err)
	case <-time.After(50 * time.Millisecond):
	}
	for _, m := range held {
		m.Ack()
	}
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return after the handlers settled")
	}
	for range ch {
		t.Fatal("a message was handed out after Close")
	}

	// With an ack wait of an hour, the other 26 come back promptly only if
	// they were given back.
	cons, err := js.Consumer(t.Context(), Stream, ConsumerName(CameraActivated))
	if err != nil {
		t.Fatal(err)
	}
	batch, err := cons.Fetch(100, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, m := range held {
		seen[m.UUID] = true
	}
	n := 0
	for m := range batch.Messages() {
		id := m.Headers().Get(jetstream.MsgIDHeader)
		if seen[id] {
			t.Fatalf("%s was acked before Close and came back", id)
		}
		seen[id] = true
		n++
	}
	if n != 26 {
		t.Fatalf("after Close, %d messages came back at once, want the 26 never handled", n)
	}
}

// A bridge of an earlier version left push consumers; the pull consumer
// that replaces one starts right after what it had acknowledged, so nothing
// is skipped and little is seen twice.
func TestEnsureConsumerReplacesAnEarlierPushConsumer(t *testing.T) {
	js, stream := pullSetup(t, 0, time.Minute)
	name := ConsumerName(CameraActivated)
	if err := stream.DeleteConsumer(t.Context(), name); err != nil {
		t.Fatal(err)
	}
	if _, err := NewPublisher(js, 0).PublishAll(t.Context(), rows(0, 10)); err != nil {
		t.Fatal(err)
	}
	push := jetstream.ConsumerConfig{Durable: name, DeliverSubject: "watcherbridge.deliver." + name, DeliverGroup: name,
		AckPolicy: jetstream.AckExplicitPolicy, FilterSubject: CameraActivated, AckWait: time.Minute}
	if _, err := stream.CreateOrUpdatePushConsumer(t.Context(), push); err != nil {
		t.Fatal(err)
	}
	// The old bridge handled the first six.
	nc, err := nats.Connect(js.Conn().ConnectedUrl())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	qs, err := nc.QueueSubscribeSync(push.DeliverSubject, name)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 6 {
		m, err := qs.NextMsg(5 * time.Second)
		if err != nil {
			t.Fatalf("push delivery %d: %v", i, err)
		}
		if err := m.AckSync(); err != nil {
			t.Fatal(err)
		}
	}
	_ = qs.Unsubscribe()

	did, err := EnsureConsumer(t.Context(), stream, ConsumerConfig(CameraActivated, time.Minute, 1024))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(did, "from stream sequence") {
		t.Fatalf("EnsureConsumer said %q; it should say it replaced the push consumer", did)
	}
	cons, err := js.Consumer(t.Context(), Stream, name)
	if err != nil {
		t.Fatalf("no pull consumer after the replacement: %v", err)
	}
	batch, err := cons.Fetch(20, jetstream.FetchMaxWait(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for m := range batch.Messages() {
		ids = append(ids, m.Headers().Get(jetstream.MsgIDHeader))
	}
	// The push queue subscription may have been handed messages 7-10 too
	// before it went away; unacked, they come from the floor on.
	if want := "row-6 row-7 row-8 row-9"; strings.Join(ids, " ") != want {
		t.Fatalf("pull consumer delivered %v, want %s", ids, want)
	}

	// A second start keeps the consumer and where it starts.
	if did, err := EnsureConsumer(t.Context(), stream, ConsumerConfig(CameraActivated, 2*time.Minute, 1024)); err != nil || did != "" {
		t.Fatalf("second EnsureConsumer: %q, %v", did, err)
	}
	info, err := cons.Info(context.WithoutCancel(t.Context()))
	if err != nil {
		t.Fatal(err)
	}
	if info.Config.AckWait != 2*time.Minute || info.Config.OptStartSeq != 7 {
		t.Fatalf("after update: ack wait %s, start sequence %d", info.Config.AckWait, info.Config.OptStartSeq)
	}
}

// A message Skip answers for is acked without reaching the router; the
// others are handed out as usual.
func TestPullSubscriberAcksWhatSkipAnswersFor(t *testing.T) {
	_, stream := pullSetup(t, 40, time.Hour)
	skipped := make(chan Incoming, 40)
	sub := NewPullSubscriber(stream, PullConfig{InFlight: 64, Skip: func(in Incoming) bool {
		if in.StreamSeq%2 == 0 {
			skipped <- in
			return true
		}
		return false
	}}, zerolog.Nop())
	t.Cleanup(func() { _ = sub.Close() })
	ch, err := sub.Subscribe(t.Context(), CameraActivated)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range receive(t, ch, 20) {
		if seq, err := strconv.ParseUint(m.Metadata.Get(MetaStreamSeq), 10, 64); err != nil || seq%2 == 0 {
			t.Fatalf("message %q reached the router although Skip answered for it", m.Metadata.Get(MetaStreamSeq))
		}
		m.Ack()
	}
	waitConsumer(t, stream, "every message acked", func(i *jetstream.ConsumerInfo) bool {
		return i.AckFloor.Stream == 40 && i.NumAckPending == 0 && i.NumRedelivered == 0
	})
	close(skipped)
	n := 0
	for in := range skipped {
		n++
		if in.Subject != CameraActivated || in.Delivered != 1 || len(in.Body) == 0 {
			t.Fatalf("Skip saw %+v; want the subject, the body and the delivery count", in)
		}
		if in.Header(strings.ToLower(jetstream.MsgIDHeader)) == "" {
			t.Fatalf("Skip's Header does not find %s case-insensitively", jetstream.MsgIDHeader)
		}
	}
	if n != 20 {
		t.Fatalf("Skip answered for %d messages, want 20", n)
	}
}
