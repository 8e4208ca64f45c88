package handlers

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strconv"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sync/errgroup"

	"github.com/watcherbridge/watcherbridge/events"
	"github.com/watcherbridge/watcherbridge/events/activation"
)

// Publisher is where ingest records what it accepted.
type Publisher interface {
	PublishAll(ctx context.Context, msgs []events.Outgoing) (duplicate []bool, err error)
}

// IngestConfig tunes the activation endpoint.
type IngestConfig struct {
	// MaxBodyBytes caps a push; larger ones get 413.
	MaxBodyBytes int64
	// MaxRows caps the rows of one push.
	MaxRows int
	// RetryAfter is what a 503 tells the sender to wait.
	RetryAfter time.Duration
	// PublishTimeout bounds the wait for JetStream to acknowledge a push.
	PublishTimeout time.Duration
	// Metrics, if set, counts rows by result.
	Metrics *Metrics
	// Ready, if set, is asked before a push is published; an error answers
	// 503 at once instead of letting the sender wait for a timeout while
	// the broker is away.
	Ready func() error
}

func (c *IngestConfig) setDefaults() {
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = 32 << 20
	}
	if c.MaxRows <= 0 {
		c.MaxRows = 100_000
	}
	if c.RetryAfter <= 0 {
		c.RetryAfter = 5 * time.Second
	}
	if c.PublishTimeout <= 0 {
		c.PublishTimeout = 15 * time.Second
	}
}

// Ingest is POST /activations: it takes a push from the activation server,
// turns every valid row into a camera.activated event and every invalid row
// into a rejected record, and answers 200 only once JetStream holds all of
// them. Anything else makes the sender retry, which is safe because every
// message id is derived from its content.
type Ingest struct {
	pub Publisher
	cfg IngestConfig
	log zerolog.Logger
	now func() time.Time
}

// NewIngest returns the ingest handler.
func NewIngest(pub Publisher, cfg IngestConfig, log zerolog.Logger) *Ingest {
	cfg.setDefaults()
	return &Ingest{pub: pub, cfg: cfg, log: log, now: time.Now}
}

// IngestReply is the JSON body of a 200 from /activations.
type IngestReply struct {
	Format       string        `json:"format"`
	Accepted     int           `json:"accepted"`
	Duplicate    int           `json:"duplicate"`
	Rejected     int           `json:"rejected"`
	RejectedRows []RejectedRow `json:"rejected_rows"`
}

// RejectedRow tells the sender which row was refused and why.
type RejectedRow struct {
	Row    int    `json:"row"`
	Line   int    `json:"line,omitempty"`
	Reason string `json:"reason"`
}

// rejectedRecord is what is stored on the rejected subject: enough to fix
// the row by hand and push it again.
type rejectedRecord struct {
	Row        int       `json:"row"`
	Line       int       `json:"line,omitempty"`
	Format     string    `json:"format"`
	Raw        string    `json:"raw"`
	Reason     string    `json:"reason"`
	ReceivedAt time.Time `json:"received_at"`
}

func (h *Ingest) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, http.StatusMethodNotAllowed, "use POST with a CSV or JSON body")
		return
	}
	log := h.log.With().Str("remote", r.RemoteAddr).Logger()
	if h.cfg.Ready != nil {
		if err := h.cfg.Ready(); err != nil {
			log.Warn().Err(err).Msg("push refused: event stream unavailable")
			h.unavailable(w)
			return
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.cfg.MaxBodyBytes))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		log.Warn().Int64("limit", tooBig.Limit).Msg("push refused: body too large")
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body exceeds %d bytes: split the push or raise --max-body-bytes", tooBig.Limit))
		return
	case err != nil:
		writeError(w, http.StatusBadRequest, "cannot read body: "+err.Error())
		return
	}
	res, err := activation.Parse(bytes.NewReader(body), r.Header.Get("Content-Type"), activation.Limits{MaxRows: h.cfg.MaxRows, MaxBodyBytes: h.cfg.MaxBodyBytes})
	if err != nil {
		// A body that is neither CSV nor JSON can never succeed; it is
		// answered 400 so a human looks at the sender.
		log.Warn().Err(err).Msg("push refused")
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	now := h.now().UTC()
	msgs, err := encodeRows(res.Rows, now)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	// A row repeated within the push is a duplicate of its first copy.
	// It is counted here and not published: the stream would refuse it
	// anyway, but only after refusing the whole atomic batch holding it,
	// which then goes row by row (a review measured 4 s instead of 0.1 s
	// for 3,300 rows with 300 repeats).
	inPush := make(map[string]bool, len(msgs))
	unique := msgs[:0:0]
	repeated := 0
	for _, m := range msgs {
		if inPush[m.ID] {
			repeated++
			continue
		}
		inPush[m.ID] = true
		unique = append(unique, m)
	}
	msgs = unique
	rows := len(msgs)
	reply := IngestReply{Format: res.Format, RejectedRows: []RejectedRow{}}
	for _, rj := range res.Rejected {
		rec := rejectedRecord{Row: rj.Index, Line: rj.Line, Format: res.Format, Raw: rj.Raw, Reason: rj.Reason, ReceivedAt: now}
		data, _ := json.Marshal(rec)
		sum := sha256.Sum256([]byte(rj.Raw + "\x00" + rj.Reason))
		msgs = append(msgs, events.Outgoing{Subject: events.RejectedSubject, ID: "rej-" + hex.EncodeToString(sum[:16]), Data: data})
		reply.RejectedRows = append(reply.RejectedRows, RejectedRow{Row: rj.Index, Line: rj.Line, Reason: rj.Reason})
	}
	// A push goes as atomic batches, one fsync each; but on a stream
	// without allow_atomic, and in a batch holding rows the stream already
	// has, each new row costs its own fsync (a few thousand rows a second
	// on a small machine, see make bench): the wait grows with the push
	// instead of answering 503 for a push that is being recorded. The
	// logger goes along for the publisher's warnings about batches.
	ctx, cancel := context.WithTimeout(log.WithContext(r.Context()), h.cfg.PublishTimeout+time.Duration(len(msgs))*time.Millisecond/2)
	defer cancel()
	dups, err := h.pub.PublishAll(ctx, msgs)
	if err != nil {
		log.Warn().Err(err).Int("rows", len(msgs)).Msg("push not recorded, sender will retry")
		h.unavailable(w)
		return
	}
	reply.Duplicate = repeated
	for _, dup := range dups[:rows] {
		if dup {
			reply.Duplicate++
		} else {
			reply.Accepted++
		}
	}
	reply.Rejected = len(res.Rejected)
	h.cfg.Metrics.IngestRows("accepted", reply.Accepted)
	h.cfg.Metrics.IngestRows("duplicate", reply.Duplicate)
	h.cfg.Metrics.IngestRows("rejected", reply.Rejected)
	log.Info().Str("format", res.Format).Int("accepted", reply.Accepted).Int("duplicate", reply.Duplicate).
		Int("rejected", reply.Rejected).Msg("push recorded")
	writeJSON(w, http.StatusOK, reply)
}

func (h *Ingest) unavailable(w http.ResponseWriter) {
	w.Header().Set("Retry-After", strconv.Itoa(int(h.cfg.RetryAfter.Seconds())))
	writeError(w, http.StatusServiceUnavailable, "event stream unavailable, the push may not be recorded: send the same push again later (rows already recorded count as duplicates)")
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

// encodeRows makes the camera.activated event of every row. Rows are
// encoded on every core: for a push of thousands of rows the encoding is a
// large part of the time until the 200.
func encodeRows(rows []activation.Parsed, now time.Time) ([]events.Outgoing, error) {
	msgs := make([]events.Outgoing, len(rows), len(rows)+16)
	workers := min(runtime.GOMAXPROCS(0), max(1, len(rows)/500))
	per := (len(rows) + workers - 1) / workers
	var g errgroup.Group
	for start := 0; start < len(rows); start += per {
		end := min(start+per, len(rows))
		g.Go(func() error {
			for i := start; i < end; i++ {
				p := rows[i]
				id := p.Row.ID()
				// Rows of one push are a sequence: when a serial appears
				// twice, the later row must be the newer fact, so each row
				// is a nanosecond later than the one before.
				env, err := events.NewEnvelope(events.CameraActivated, id, p.Row.AgentSerial, now.Add(time.Duration(i)), p.Row)
				if err != nil {
					return fmt.Errorf("encode row %d: %w", p.Index, err)
				}
				env.Source = events.DefaultSource + ":ingest"
				data, err := env.Encode()
				if err != nil {
					return fmt.Errorf("encode row %d: %w", p.Index, err)
				}
				msgs[i] = events.Outgoing{Subject: events.CameraActivated, ID: id, Data: data}
			}
			return nil
		})
	}
	return msgs, g.Wait()
}
