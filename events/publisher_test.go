package events

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// startJetStream runs JetStream in-process on loopback as the bridge embeds
// it (file storage, SyncAlways) and returns a client with the bridge's
// settings. limits are the server's JetStream limits (zero: defaults).
func startJetStream(t *testing.T, limits server.JSLimitOpts) jetstream.JetStream {
	t.Helper()
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true,
		StoreDir: t.TempDir(), SyncAlways: true, JetStreamLimits: limits, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		t.Fatal("nats-server not ready")
	}
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc, JetStreamOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// createStreams creates the bridge's two streams, BILLING as billing.
func createStreams(t *testing.T, js jetstream.JetStream, billing jetstream.StreamConfig) {
	t.Helper()
	for _, cfg := range []jetstream.StreamConfig{billing, DeadLetterStreamConfig(1, DuplicateWindow)} {
		if _, err := js.CreateStream(t.Context(), cfg); err != nil {
			t.Fatalf("create stream %s: %v", cfg.Name, err)
		}
	}
}

// rows are camera.activated messages with ids row-<from>...row-<from+n-1>.
func rows(from, n int) []Outgoing {
	msgs := make([]Outgoing, n)
	for i := range msgs {
		id := fmt.Sprintf("row-%d", from+i)
		msgs[i] = Outgoing{Subject: CameraActivated, ID: id, Data: []byte(`{"id":"` + id + `"}`)}
	}
	return msgs
}

// stored is what a stream holds: each Nats-Msg-Id with how many times it
// is there, and the atomic batches the messages came in.
type stored struct {
	count   map[string]int
	batches map[string]int // batch id -> messages
	single  int            // messages stored outside any batch
}

func readStream(t *testing.T, js jetstream.JetStream, name string) stored {
	t.Helper()
	s, err := js.Stream(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	got := stored{count: map[string]int{}, batches: map[string]int{}}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(t.Context(), seq)
		if err != nil {
			t.Fatalf("stream %s sequence %d: %v", name, seq, err)
		}
		got.count[m.Header.Get(jetstream.MsgIDHeader)]++
		if id := m.Header.Get(hdrBatchID); id != "" {
			got.batches[id]++
		} else {
			got.single++
		}
	}
	return got
}

// requireEachOnce fails unless the stream holds exactly the ids of msgs,
// each once.
func requireEachOnce(t *testing.T, got stored, msgs []Outgoing) {
	t.Helper()
	if len(got.count) != len(msgs) {
		t.Errorf("stream holds %d distinct ids, want %d", len(got.count), len(msgs))
	}
	for _, m := range msgs {
		if n := got.count[m.ID]; n != 1 {
			t.Errorf("id %s stored %d times, want 1", m.ID, n)
		}
	}
}

func countTrue(b []bool) int {
	n := 0
	for _, v := range b {
		if v {
			n++
		}
	}
	return n
}

func TestPublishAllStoresAPushAsBatches(t *testing.T) {
	t.Parallel()
	js := startJetStream(t, server.JSLimitOpts{})
	createStreams(t, js, StreamConfig(1))
	msgs := rows(0, 10)
	rejected := []Outgoing{
		{Subject: RejectedSubject, ID: "rej-1", Data: []byte(`{}`)},
		{Subject: RejectedSubject, ID: "rej-2", Data: []byte(`{}`)},
	}

	dup, err := NewPublisher(js, 0).PublishAll(t.Context(), append(msgs, rejected...))
	if err != nil {
		t.Fatal(err)
	}
	if n := countTrue(dup); n != 0 || len(dup) != len(msgs)+len(rejected) {
		t.Errorf("%d flags, %d duplicates; want %d flags, 0 duplicates", len(dup), n, len(msgs)+len(rejected))
	}
	got := readStream(t, js, Stream)
	requireEachOnce(t, got, msgs)
	if len(got.batches) != 1 || got.single != 0 {
		t.Errorf("stored in %d batches and %d single messages, want 1 batch", len(got.batches), got.single)
	}
	requireEachOnce(t, readStream(t, js, DeadLetterStream), rejected)
}

func TestPublishAllSplitsALargePushIntoBatches(t *testing.T) {
	t.Parallel()
	js := startJetStream(t, server.JSLimitOpts{})
	createStreams(t, js, StreamConfig(1))
	msgs := rows(0, 2500)

	dup, err := NewPublisher(js, 0).PublishAll(t.Context(), msgs)
	if err != nil {
		t.Fatal(err)
	}
	if n := countTrue(dup); n != 0 {
		t.Errorf("%d duplicates in a fresh push, want 0", n)
	}
	got := readStream(t, js, Stream)
	requireEachOnce(t, got, msgs)
	if len(got.batches) != 3 || got.single != 0 {
		t.Errorf("stored in %d batches and %d single messages, want 3 batches", len(got.batches), got.single)
	}
	for id, n := range got.batches {
		if n > maxBatch {
			t.Errorf("batch %s has %d messages, more than %d", id, n, maxBatch)
		}
	}
}

func TestPublishAllResentPushIsAllDuplicates(t *testing.T) {
	t.Parallel()
	js := startJetStream(t, server.JSLimitOpts{})
	createStreams(t, js, StreamConfig(1))
	pub := NewPublisher(js, 0)
	msgs := rows(0, 2500)
	if _, err := pub.PublishAll(t.Context(), msgs); err != nil {
		t.Fatal(err)
	}

	dup, err := pub.PublishAll(t.Context(), msgs)
	if err != nil {
		t.Fatal(err)
	}
	if n := countTrue(dup); n != len(msgs) {
		t.Errorf("re-sent push: %d duplicates, want %d", n, len(msgs))
	}
	requireEachOnce(t, readStream(t, js, Stream), msgs)
}

func TestPublishAllMixedPushStoresOnlyNewRows(t *testing.T) {
	t.Parallel()
	js := startJetStream(t, server.JSLimitOpts{})
	createStreams(t, js, StreamConfig(1))
	pub := NewPublisher(js, 0)
	// The first batch of the push holds rows the stream has, the second
	// holds none.
	all := rows(0, 1500)
	var seen []Outgoing
	for i := 0; i < len(all)/2; i += 7 {
		seen = append(seen, all[i])
	}
	if _, err := pub.PublishAll(t.Context(), seen); err != nil {
		t.Fatal(err)
	}

	dup, err := pub.PublishAll(t.Context(), all)
	if err != nil {
		t.Fatal(err)
	}
	for i := range all {
		if want := i < len(all)/2 && i%7 == 0; dup[i] != want {
			t.Errorf("row %d: duplicate %v, want %v", i, dup[i], want)
		}
	}
	requireEachOnce(t, readStream(t, js, Stream), all)
}

func TestPublishAllSameRowTwiceInAPush(t *testing.T) {
	t.Parallel()
	js := startJetStream(t, server.JSLimitOpts{})
	createStreams(t, js, StreamConfig(1))
	msgs := rows(0, 5)
	msgs = append(msgs, msgs[2])

	dup, err := NewPublisher(js, 0).PublishAll(t.Context(), msgs)
	if err != nil {
		t.Fatal(err)
	}
	want := []bool{false, false, false, false, false, true}
	if fmt.Sprint(dup) != fmt.Sprint(want) {
		t.Errorf("duplicate flags %v, want %v", dup, want)
	}
	requireEachOnce(t, readStream(t, js, Stream), msgs[:5])
}

// A stream made before the bridge used batches, kept as the operator made
// it: pushes still work, one message at a time, and batches start once the
// operator allows them.
func TestPublishAllStreamWithoutAtomicBatches(t *testing.T) {
	t.Parallel()
	js := startJetStream(t, server.JSLimitOpts{})
	old := StreamConfig(1)
	old.AllowAtomicPublish = false
	createStreams(t, js, old)
	clock := time.Now()
	pub := NewPublisher(js, 0)
	pub.now = func() time.Time { return clock }

	first := rows(0, 20)
	dup, err := pub.PublishAll(t.Context(), first)
	if err != nil {
		t.Fatal(err)
	}
	if n := countTrue(dup); n != 0 {
		t.Errorf("first push: %d duplicates, want 0", n)
	}
	dup, err = pub.PublishAll(t.Context(), first)
	if err != nil {
		t.Fatal(err)
	}
	if n := countTrue(dup); n != len(first) {
		t.Errorf("re-sent push: %d duplicates, want %d", n, len(first))
	}
	got := readStream(t, js, Stream)
	requireEachOnce(t, got, first)
	if len(got.batches) != 0 {
		t.Errorf("%d batches stored by a stream without allow_atomic", len(got.batches))
	}

	allowed := StreamConfig(1)
	if _, err := js.UpdateStream(t.Context(), allowed); err != nil {
		t.Fatal(err)
	}
	second := rows(20, 10)
	if _, err := pub.PublishAll(t.Context(), second); err != nil {
		t.Fatal(err)
	}
	if got := readStream(t, js, Stream); len(got.batches) != 0 {
		t.Errorf("a push within %s of the refusal was batched; want one by one until the recheck", batchRecheck)
	}

	clock = clock.Add(batchRecheck)
	third := rows(30, 10)
	if _, err := pub.PublishAll(t.Context(), third); err != nil {
		t.Fatal(err)
	}
	got = readStream(t, js, Stream)
	requireEachOnce(t, got, append(append(first, second...), third...))
	if len(got.batches) != 1 {
		t.Errorf("after the recheck: %d batches, want the last push as 1", len(got.batches))
	}
}

func TestPublishAllServerWithSmallerBatchLimit(t *testing.T) {
	t.Parallel()
	js := startJetStream(t, server.JSLimitOpts{MaxBatchSize: 100})
	createStreams(t, js, StreamConfig(1))
	pub := NewPublisher(js, 0)

	first := rows(0, 250)
	dup, err := pub.PublishAll(t.Context(), first)
	if err != nil {
		t.Fatal(err)
	}
	if n := countTrue(dup); n != 0 {
		t.Errorf("first push: %d duplicates, want 0", n)
	}
	// Each refused batch halves the size: 250 refused, then 125 refused,
	// then batches of 50 from 62.
	second := rows(250, 250)
	if _, err := pub.PublishAll(t.Context(), second); err != nil {
		t.Fatal(err)
	}
	third := rows(500, 250)
	before := readStream(t, js, Stream)
	if _, err := pub.PublishAll(t.Context(), third); err != nil {
		t.Fatal(err)
	}
	got := readStream(t, js, Stream)
	requireEachOnce(t, got, append(append(first, second...), third...))
	if n := len(got.batches) - len(before.batches); n < 3 || got.single != before.single {
		t.Errorf("third push: %d new batches and %d single messages, want it all in batches of at most 100", n, got.single-before.single)
	}
}

func TestPublishAllFailsWhenNoStreamAnswers(t *testing.T) {
	t.Parallel()
	js := startJetStream(t, server.JSLimitOpts{})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()

	_, err := NewPublisher(js, 0).PublishAll(ctx, rows(0, 50))
	var unavailable *UnavailableError
	if !errors.As(err, &unavailable) {
		t.Fatalf("publish with no stream: %v, want an UnavailableError", err)
	}
	if unavailable.Published != 0 || !errors.Is(err, nats.ErrNoResponders) {
		t.Errorf("publish with no stream: %v (published %d), want no responders after 0", err, unavailable.Published)
	}
}

func TestPublishAllRespectsCancelledContext(t *testing.T) {
	t.Parallel()
	js := startJetStream(t, server.JSLimitOpts{})
	createStreams(t, js, StreamConfig(1))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()

	_, err := NewPublisher(js, 0).PublishAll(ctx, rows(0, 50))
	if !IsUnavailable(err) || !errors.Is(err, context.Canceled) {
		t.Errorf("publish with a cancelled context: %v, want an UnavailableError wrapping context.Canceled", err)
	}
}

func TestSplitMakesEvenChunks(t *testing.T) {
	t.Parallel()
	tests := []struct {
		give int
		want string
	}{
		{give: 0, want: "[]"},
		{give: 1, want: "[1]"},
		{give: 1000, want: "[1000]"},
		{give: 1001, want: "[501 500]"},
		{give: 2500, want: "[834 834 832]"},
		{give: 10000, want: "[1000 1000 1000 1000 1000 1000 1000 1000 1000 1000]"},
	}
	for _, tt := range tests {
		idx := make([]int, tt.give)
		var sizes []int
		for _, c := range split(idx, maxBatch) {
			sizes = append(sizes, len(c))
		}
		if got := fmt.Sprint(sizes); got != tt.want {
			t.Errorf("split(%d) = %s, want %s", tt.give, got, tt.want)
		}
	}
}
