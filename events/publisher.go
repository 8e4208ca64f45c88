package events

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// Outgoing is one message to put on JetStream.
type Outgoing struct {
	Subject string
	ID      string // becomes Nats-Msg-Id, the stream's deduplication key
	Data    []byte
	Header  nats.Header
}

// Atomic batch publishing (nats-server 2.12+, stream option allow_atomic).
// A file stream with SyncAlways stores a committed batch with one fsync
// instead of one per message, which is what makes a push of thousands of
// rows fast without giving up durability.
const (
	// maxBatch is the server's default JetStreamLimits.MaxBatchSize; a
	// server configured lower makes the publisher shrink its batches.
	maxBatch = 1000
	// maxBatchesInFlight bounds the batches a publisher has open at once.
	// The server refuses more than 50 per stream from all publishers
	// together (MaxBatchInflightPerStream), and a few keep its ingest busy.
	maxBatchesInFlight = 8
	// batchRecheck is how long a publisher keeps to one-by-one publishing
	// after the stream refused batches, so that enabling allow_atomic on a
	// running deployment takes effect without a restart.
	batchRecheck = time.Minute
	// commitWait bounds the wait for batch commits when the caller's
	// context has none, like WithPublishAsyncTimeout for single messages.
	commitWait = 2 * time.Minute
)

// Headers of the atomic batch protocol (nats-server stream.go).
const (
	hdrBatchID     = "Nats-Batch-Id"
	hdrBatchSeq    = "Nats-Batch-Sequence"
	hdrBatchCommit = "Nats-Batch-Commit"
)

// API error codes of a refused batch (nats-server server/errors.json). The
// server refuses a batch as a whole: none of its messages is stored.
const (
	errCodeAtomicDisabled    jetstream.ErrorCode = 10174 // JSAtomicPublishDisabledErr
	errCodeBatchTooLarge     jetstream.ErrorCode = 10199 // JSAtomicPublishTooLargeBatchErrF
	errCodeBatchDuplicate    jetstream.ErrorCode = 10201 // JSAtomicPublishContainsDuplicateMessageErr
	errCodeDuplicateConflict jetstream.ErrorCode = 10158 // JSStreamDuplicateMessageConflictErr
)

// Publisher puts messages on JetStream and waits for the stream to
// acknowledge them. It talks to JetStream directly rather than through
// Watermill because ingest needs each message's acknowledgement (to count
// duplicates) and publishes a whole push at once.
//
// Messages for the BILLING stream go as atomic batches when there are
// several; a batch that the stream refuses because it holds a message
// already, or because the stream does not allow batches, is published again
// one message at a time, which tells each message's duplicate flag.
type Publisher struct {
	js jetstream.JetStream
	// slots holds a token per batch in flight, shared by concurrent
	// PublishAll calls so that together they stay under the server's limit.
	slots chan struct{}
	// batchSize is the largest batch sent; lowered when the server refuses
	// batches as too large.
	batchSize atomic.Int64
	// batchesOffUntil (Unix nanoseconds) is when to try batches again after
	// the stream refused them.
	batchesOffUntil atomic.Int64
	now             func() time.Time
}

// EmbeddedMaxBatch is the batch limit the bridge gives its embedded server.
// Each batch costs the server a staging store (create, flush, remove: tens
// of milliseconds here), so a 10,000-row push as one batch is stored about
// twice as fast as in batches of 1,000.
const EmbeddedMaxBatch = 10_000

// NewPublisher returns a publisher over js sending batches of at most
// maxBatch messages; 0 means the server default, 1,000. A larger value
// needs the server's max_batch_size raised to match.
func NewPublisher(js jetstream.JetStream, maxBatchSize int) *Publisher {
	if maxBatchSize <= 0 {
		maxBatchSize = maxBatch
	}
	p := &Publisher{js: js, slots: make(chan struct{}, maxBatchesInFlight), now: time.Now}
	p.batchSize.Store(int64(maxBatchSize))
	return p
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
// id). Publishing is pipelined: several batches are in flight at once, then
// the messages published one by one (other streams, batches the stream
// refused) all are, so a push of thousands of rows costs a few round trips
// and, with SyncAlways, one fsync per batch of new rows. Messages may be
// stored in another order than msgs when a batch falls back to one-by-one
// publishing; events carry their own time for that reason.
func (p *Publisher) PublishAll(ctx context.Context, msgs []Outgoing) (duplicate []bool, err error) {
	if err := ctx.Err(); err != nil {
		return nil, &UnavailableError{Err: err}
	}
	duplicate = make([]bool, len(msgs))
	var chunks [][]int
	single := make([]int, 0, len(msgs))
	if p.batching() {
		var billing []int
		for i, m := range msgs {
			if streamOf(m.Subject) == Stream {
				billing = append(billing, i)
			} else {
				single = append(single, i)
			}
		}
		chunks = split(billing, int(p.batchSize.Load()))
	} else {
		for i := range msgs {
			single = append(single, i)
		}
	}
	// A batch of one saves no fsync, and costs a second round trip when
	// its message is a duplicate.
	if len(chunks) == 1 && len(chunks[0]) == 1 {
		single, chunks = append(single, chunks[0]...), nil
	}
	stored := 0
	if len(chunks) > 0 {
		n, again, err := p.publishBatches(ctx, msgs, chunks)
		stored += n
		if err != nil {
			return nil, &UnavailableError{Published: stored, Err: err}
		}
		single = append(single, again...)
	}
	n, err := p.publishEach(ctx, msgs, single, duplicate)
	stored += n
	if err != nil {
		return nil, &UnavailableError{Published: stored, Err: err}
	}
	return duplicate, nil
}

// split cuts idx into at most size-long chunks of nearly equal length, so
// that 1,001 messages make two batches rather than a batch and a single.
func split(idx []int, size int) [][]int {
	if len(idx) == 0 {
		return nil
	}
	size = max(size, 1)
	n := (len(idx) + size - 1) / size
	per := (len(idx) + n - 1) / n
	chunks := make([][]int, 0, n)
	for len(idx) > 0 {
		k := min(per, len(idx))
		chunks = append(chunks, idx[:k:k])
		idx = idx[k:]
	}
	return chunks
}

// publishBatches publishes each chunk of msgs as one atomic batch, up to
// maxBatchesInFlight of them (for this publisher) awaiting their commit. It
// returns how many messages the stream stored and the messages of batches
// it refused in a way one-by-one publishing handles.
func (p *Publisher) publishBatches(ctx context.Context, msgs []Outgoing, chunks [][]int) (stored int, again []int, err error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, commitWait)
		defer cancel()
	}
	nc := p.js.Conn()
	// One reply subject per batch under an inbox of this call: commits come
	// back in any order and each must be matched to its batch.
	inbox := nc.NewInbox()
	replies := make(chan *nats.Msg, len(chunks))
	sub, err := nc.ChanSubscribe(inbox+".*", replies)
	if err != nil {
		return 0, nil, fmt.Errorf("subscribe to batch acknowledgements: %w", err)
	}
	defer func() { _ = sub.Unsubscribe() }()

	type open struct {
		id    string
		chunk []int
	}
	pending := make(map[string]open, len(chunks))
	held := 0
	defer func() {
		for ; held > 0; held-- {
			<-p.slots
		}
	}()
	receive := func(m *nats.Msg) error {
		b, ok := pending[m.Subject]
		if !ok {
			return nil
		}
		delete(pending, m.Subject)
		<-p.slots
		held--
		err := commitError(m, b.id, len(b.chunk))
		if err == nil {
			stored += len(b.chunk)
			return nil
		}
		if p.refusedBatch(ctx, err, len(b.chunk)) {
			again = append(again, b.chunk...)
			return nil
		}
		return fmt.Errorf("batch of %d messages: %w", len(b.chunk), err)
	}

	for i, chunk := range chunks {
		// Wait for a slot; the replies that free this call's own slots
		// are read meanwhile, or a call holding every slot would wait for
		// itself.
		for acquired := false; !acquired; {
			select {
			case p.slots <- struct{}{}:
				held++
				acquired = true
			case m := <-replies:
				if err := receive(m); err != nil {
					return stored, nil, err
				}
			case <-ctx.Done():
				return stored, nil, ctx.Err()
			}
		}
		id := rand.Text()
		reply := inbox + "." + strconv.Itoa(i)
		pending[reply] = open{id: id, chunk: chunk}
		if err := sendBatch(nc, msgs, chunk, id, reply); err != nil {
			return stored, nil, err
		}
	}
	for len(pending) > 0 {
		select {
		case m := <-replies:
			if err := receive(m); err != nil {
				return stored, nil, err
			}
		case <-ctx.Done():
			return stored, nil, ctx.Err()
		}
	}
	return stored, again, nil
}

// sendBatch publishes the messages idx of msgs as batch id; only the last
// one, the commit, asks for a reply: the server answers it once the whole
// batch is stored (or refused).
func sendBatch(nc *nats.Conn, msgs []Outgoing, idx []int, id, reply string) error {
	for n, i := range idx {
		m := msgs[i]
		h := make(nats.Header, len(m.Header)+5)
		for k, v := range m.Header {
			h[k] = v
		}
		// Assigned, not Set: the keys are canonical already and this
		// runs for every row.
		if m.ID != "" {
			h[jetstream.MsgIDHeader] = []string{m.ID}
		}
		h[jetstream.ExpectedStreamHeader] = []string{Stream}
		h[hdrBatchID] = []string{id}
		h[hdrBatchSeq] = []string{strconv.Itoa(n + 1)}
		nm := &nats.Msg{Subject: m.Subject, Data: m.Data, Header: h}
		if n == len(idx)-1 {
			h[hdrBatchCommit] = []string{"1"}
			nm.Reply = reply
		}
		if err := nc.PublishMsg(nm); err != nil {
			return fmt.Errorf("publish batch message %d of %d: %w", n+1, len(idx), err)
		}
	}
	return nil
}

// errNotBatched means the stream acknowledged a commit as an ordinary
// message: a server without atomic batches stored the batch's messages one
// by one, so which of them were duplicates is unknown.
var errNotBatched = errors.New("the server acknowledged the batch commit as a single message: it does not support atomic batches (nats-server 2.12 or later does)")

// commitError reads the reply to a batch commit; nil means the stream
// stored all n messages of batch id.
func commitError(m *nats.Msg, id string, n int) error {
	// A reply without payload and with status 503 is NATS's "no
	// responders": no stream listens on the subject.
	if len(m.Data) == 0 && m.Header.Get("Status") == "503" {
		return nats.ErrNoResponders
	}
	var ack struct {
		Error  *jetstream.APIError `json:"error"`
		Stream string              `json:"stream"`
		Batch  string              `json:"batch"`
		Count  int                 `json:"count"`
	}
	if err := json.Unmarshal(m.Data, &ack); err != nil {
		return fmt.Errorf("%w: %v", jetstream.ErrInvalidJSAck, err)
	}
	switch {
	case ack.Error != nil:
		return ack.Error
	case ack.Stream != "" && ack.Batch == "":
		return errNotBatched
	case ack.Batch != id || ack.Count != n:
		return fmt.Errorf("%w: commit of batch %s with %d messages acknowledged as batch %q with %d", jetstream.ErrInvalidJSAck, id, n, ack.Batch, ack.Count)
	}
	return nil
}

// refusedBatch tells whether err, the refusal of a batch of n messages,
// leaves them for one-by-one publishing, and learns from it: a stream that
// does not allow batches gets none for a while, a server with a lower batch
// limit gets smaller ones. Other refusals (the batch incomplete, too many
// in flight, the stream away) fail the publish: the sender retries.
func (p *Publisher) refusedBatch(ctx context.Context, err error, n int) bool {
	if errors.Is(err, errNotBatched) {
		p.batchesOff(ctx, err.Error())
		return false
	}
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	switch apiErr.ErrorCode {
	case errCodeBatchDuplicate, errCodeDuplicateConflict:
		zerolog.Ctx(ctx).Debug().Int("messages", n).Msg("batch holds a message the stream has: publishing its messages one by one")
		return true
	case errCodeAtomicDisabled:
		p.batchesOff(ctx, fmt.Sprintf("stream %s refused an atomic batch (%v): allow them with `nats stream edit %s --allow-batch`", Stream, err, Stream))
		return true
	case errCodeBatchTooLarge:
		// The batches of a push are refused alike; only a size below the
		// current one is news.
		size := int64(max(n/2, 2))
		if cur := p.batchSize.Load(); size < cur && p.batchSize.CompareAndSwap(cur, size) {
			zerolog.Ctx(ctx).Warn().Int("refused", n).Int64("batch_size", size).
				Msg("the server refused a batch as too large (JetStream limit max_batch_size): sending smaller batches")
		}
		return true
	}
	return false
}

func (p *Publisher) batching() bool {
	return p.now().UnixNano() >= p.batchesOffUntil.Load()
}

func (p *Publisher) batchesOff(ctx context.Context, reason string) {
	until := p.now().Add(batchRecheck)
	// Log once per period, not once per refused batch of a push.
	if old := p.batchesOffUntil.Load(); old < p.now().UnixNano() && p.batchesOffUntil.CompareAndSwap(old, until.UnixNano()) {
		zerolog.Ctx(ctx).Warn().Dur("retry_in", batchRecheck).
			Msg(reason + "; publishing one message at a time, one fsync each, which is far slower")
	}
}

// publishEach publishes the messages idx of msgs one by one, all in flight
// at once, and records their duplicate flags. It returns how many were
// acknowledged before an error.
func (p *Publisher) publishEach(ctx context.Context, msgs []Outgoing, idx []int, duplicate []bool) (int, error) {
	futures := make([]jetstream.PubAckFuture, 0, len(idx))
	for _, i := range idx {
		m := msgs[i]
		h := make(nats.Header, len(m.Header)+2)
		for k, v := range m.Header {
			h[k] = v
		}
		nm := &nats.Msg{Subject: m.Subject, Data: m.Data, Header: h}
		f, err := p.js.PublishMsgAsync(nm, jetstream.WithMsgID(m.ID), jetstream.WithExpectStream(streamOf(m.Subject)),
			// A push of thousands of rows fills the async window; wait for
			// room instead of failing the push.
			jetstream.WithStallWait(30*time.Second))
		if err != nil {
			return 0, err
		}
		futures = append(futures, f)
	}
	for n, f := range futures {
		select {
		case ack := <-f.Ok():
			duplicate[idx[n]] = ack.Duplicate
		case err := <-f.Err():
			return n, err
		case <-ctx.Done():
			return n, ctx.Err()
		}
	}
	return len(futures), nil
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
