package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/watcherbridge/watcherbridge/events"
	"github.com/watcherbridge/watcherbridge/handlers"
)

const defaultNATSURL = "nats://127.0.0.1:4222"

const dlqUsage = `Usage:
  watcherbridge dlq list  [--topic T] [--since TIME]
  watcherbridge dlq show  ID
  watcherbridge dlq retry ID | --all [--topic T] [--since TIME]
  watcherbridge dlq drop  ID | --all [--topic T] [--since TIME] [--yes]

ID is the dead letter's sequence in the DEADLETTER stream (first column of
"dlq list"). TIME is RFC 3339 (2026-12-03T10:00:00Z) or a duration back
from now (24h). Every command takes --nats-url and --output table|json.
`

// runDLQ is `watcherbridge dlq list|show|retry|drop`. It talks to
// JetStream directly: dead letters live in the DEADLETTER stream, so the
// bridge need not be running to inspect them.
func runDLQ(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fmt.Fprint(stderr, dlqUsage)
		return errors.New("dlq needs a command: list, show, retry or drop")
	}
	sub, rest := args[0], args[1:]
	fs := flag.NewFlagSet("watcherbridge dlq "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, dlqUsage); fs.PrintDefaults() }
	natsURLOf := natsFlags(fs)
	output := fs.String("output", "table", "table for people, json for scripts")
	topic := fs.String("topic", "", "only dead letters of this topic, e.g. camera.activated")
	since := fs.String("since", "", "only dead letters stored since TIME (RFC 3339, or a duration like 24h)")
	all := fs.Bool("all", false, "retry or drop every dead letter (of --topic, --since)")
	yes := fs.Bool("yes", false, "drop without asking")
	id, rest := leadingArg(rest)
	if err := parseFlags(fs, rest, getenv); err != nil {
		return err
	}
	if id == "" && fs.NArg() > 0 {
		id = fs.Arg(0)
	}
	if *output != "table" && *output != "json" {
		return fmt.Errorf("--output %q: want table or json", *output)
	}
	sinceT, err := parseSince(*since, time.Now())
	if err != nil {
		return err
	}
	filter := events.DeadLetterPrefix + ">"
	if *topic != "" {
		filter = events.DeadLetterSubject(*topic)
	}
	var seq uint64
	switch sub {
	case "list":
	case "show", "retry", "drop":
		if id == "" && sub == "show" {
			return errors.New("dlq show needs a dead letter ID (see dlq list)")
		}
		if id == "" && !*all {
			return fmt.Errorf("dlq %s needs a dead letter ID (see dlq list) or --all", sub)
		}
		if id != "" {
			if *all {
				return fmt.Errorf("give an ID or --all, not both")
			}
			if seq, err = strconv.ParseUint(id, 10, 64); err != nil || seq == 0 {
				return fmt.Errorf("dead letter ID %q: want the number in the first column of dlq list", id)
			}
		}
	default:
		fmt.Fprint(stderr, dlqUsage)
		return fmt.Errorf("unknown dlq command %q: want list, show, retry or drop", sub)
	}

	natsURL, err := natsURLOf()
	if err != nil {
		return err
	}
	nc, err := dialNATS(natsURL, "watcherbridge-dlq")
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc, events.JetStreamOptions()...)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	stream, err := js.Stream(ctx, events.DeadLetterStream)
	if err != nil {
		return fmt.Errorf("stream %s on %s: %w (is the bridge's NATS reachable? check --nats-url)", events.DeadLetterStream, redactURL(natsURL), err)
	}
	d := &dlq{stream: stream, pub: events.NewPublisher(js, 0), json: *output == "json", out: stdout}

	// selected is the dead letters a command acts on.
	selected := func() ([]deadLetter, error) {
		if seq != 0 {
			dl, err := d.get(ctx, seq)
			return []deadLetter{dl}, err
		}
		return d.list(ctx, filter, sinceT)
	}
	switch sub {
	case "list":
		dls, err := d.list(ctx, filter, sinceT)
		if err != nil {
			return err
		}
		return d.printList(dls)
	case "show":
		dl, err := d.get(ctx, seq)
		if err != nil {
			return err
		}
		return d.printShow(dl)
	case "retry":
		dls, err := selected()
		if err != nil {
			return err
		}
		return d.retry(ctx, dls, *all)
	default: // drop
		dls, err := selected()
		if err != nil {
			return err
		}
		if len(dls) == 0 {
			return d.report("dropped", nil, nil)
		}
		if !*yes {
			if err := confirm(os.Stdin, stderr, fmt.Sprintf("Drop %d dead letter(s) for good?", len(dls))); err != nil {
				return err
			}
		}
		return d.drop(ctx, dls)
	}
}

// leadingArg splits off a first argument that is not a flag, so an ID may
// come before or after the flags.
func leadingArg(args []string) (string, []string) {
	if len(args) > 0 && args[0] != "" && !strings.HasPrefix(args[0], "-") {
		return args[0], args[1:]
	}
	return "", args
}

// parseSince reads --since: an RFC 3339 time, or a duration back from now.
func parseSince(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("time %q: want RFC 3339 (2026-12-03T10:00:00Z) or a duration back from now (24h)", s)
}

// confirm asks on a terminal; anywhere else it refuses, so a script never
// destroys anything by accident.
func confirm(in *os.File, out io.Writer, question string) error {
	if !isatty.IsTerminal(in.Fd()) && !isatty.IsCygwinTerminal(in.Fd()) {
		return errors.New("not asking on a non-terminal: add --yes to confirm")
	}
	fmt.Fprint(out, question+" [y/N] ")
	line, _ := bufio.NewReader(in).ReadString('\n')
	if a := strings.ToLower(strings.TrimSpace(line)); a != "y" && a != "yes" {
		return errors.New("nothing dropped")
	}
	return nil
}

// deadLetter is one message of the DEADLETTER stream as operators see it.
type deadLetter struct {
	ID            uint64           `json:"id"`
	Subject       string           `json:"subject"`
	Topic         string           `json:"topic"`
	StoredAt      time.Time        `json:"stored_at"`
	FailedAt      time.Time        `json:"failed_at,omitzero"`
	EventID       string           `json:"event_id,omitempty"`
	EventType     string           `json:"event_type,omitempty"`
	EventSubject  string           `json:"event_subject,omitempty"`
	EventTime     time.Time        `json:"event_time,omitzero"`
	OriginalSeq   uint64           `json:"original_seq,omitempty"`
	Deliveries    uint64           `json:"deliveries,omitempty"`
	Reason        string           `json:"reason"`
	WatcherStatus int              `json:"watcher_status,omitempty"`
	WatcherBody   string           `json:"watcher_body,omitempty"`
	History       []events.Attempt `json:"history,omitempty"`
	// Retryable is false for rejected activation rows: they are not
	// events, the row itself must be fixed and pushed again.
	Retryable bool `json:"retryable"`
	// Event is the original message with its secrets masked.
	Event json.RawMessage `json:"event,omitempty"`

	data   []byte
	header nats.Header
}

// parseDeadLetter reads what the worker (events.DeadLetters) or ingest
// (rejected rows) stored.
func parseDeadLetter(m *jetstream.RawStreamMsg) deadLetter {
	h := m.Header
	dl := deadLetter{ID: m.Sequence, Subject: m.Subject, StoredAt: m.Time.UTC(), data: m.Data, header: h}
	dl.Topic = h.Get(events.HdrTopic)
	if dl.Topic == "" {
		dl.Topic = strings.TrimPrefix(m.Subject, events.DeadLetterPrefix)
	}
	masked, secrets := handlers.MaskJSON(m.Data)
	dl.Event = masked
	if !json.Valid(masked) {
		dl.Event, _ = json.Marshal(string(masked))
	}
	if m.Subject == events.RejectedSubject {
		var rec struct {
			Row        int       `json:"row"`
			Line       int       `json:"line"`
			Reason     string    `json:"reason"`
			ReceivedAt time.Time `json:"received_at"`
		}
		_ = json.Unmarshal(m.Data, &rec)
		dl.Reason = fmt.Sprintf("activation row %d (line %d) rejected: %s", rec.Row, rec.Line, rec.Reason)
		dl.FailedAt = rec.ReceivedAt
		return dl
	}
	dl.Retryable = slices.Contains(events.Topics(), dl.Topic)
	dl.Reason = handlers.MaskText(h.Get(events.HdrReason), secrets)
	dl.WatcherBody = handlers.MaskText(h.Get(events.HdrWatcherBody), secrets)
	dl.WatcherStatus, _ = strconv.Atoi(h.Get(events.HdrWatcherStatus))
	dl.Deliveries, _ = strconv.ParseUint(h.Get(events.HdrDeliveries), 10, 64)
	dl.OriginalSeq, _ = strconv.ParseUint(h.Get(events.HdrStreamSeq), 10, 64)
	dl.FailedAt, _ = time.Parse(time.RFC3339Nano, h.Get(events.HdrFailedAt))
	dl.EventID = h.Get(events.HdrEventID)
	if raw := h.Get(events.HdrHistory); raw != "" {
		_ = json.Unmarshal([]byte(raw), &dl.History)
		for i := range dl.History {
			dl.History[i].Error = handlers.MaskText(dl.History[i].Error, secrets)
		}
	}
	hdr := func(k string) string {
		for name, v := range h {
			if strings.EqualFold(name, k) && len(v) > 0 {
				return v[0]
			}
		}
		return ""
	}
	if env, err := events.Decode(m.Data, hdr); err == nil || env.ID != "" {
		dl.EventType, dl.EventSubject, dl.EventTime = env.Type, env.Subject, env.Time
		if dl.EventID == "" {
			dl.EventID = env.ID
		}
	}
	return dl
}

// dlq acts on the DEADLETTER stream.
type dlq struct {
	stream jetstream.Stream
	pub    *events.Publisher
	json   bool
	out    io.Writer
}

func (d *dlq) get(ctx context.Context, seq uint64) (deadLetter, error) {
	m, err := d.stream.GetMsg(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return deadLetter{}, fmt.Errorf("no dead letter %d (retried or dropped already? see dlq list)", seq)
	}
	if err != nil {
		return deadLetter{}, fmt.Errorf("dead letter %d: %w", seq, err)
	}
	return parseDeadLetter(m), nil
}

// list reads the dead letters on filter stored since since, oldest first,
// with an ordered consumer: nothing is acknowledged or changed.
func (d *dlq) list(ctx context.Context, filter string, since time.Time) ([]deadLetter, error) {
	info, err := d.stream.Info(ctx)
	if err != nil {
		return nil, err
	}
	if info.State.Msgs == 0 {
		return nil, nil
	}
	last := info.State.LastSeq
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: []string{filter}}
	if !since.IsZero() {
		cfg.DeliverPolicy = jetstream.DeliverByStartTimePolicy
		cfg.OptStartTime = &since
	}
	cons, err := d.stream.OrderedConsumer(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", events.DeadLetterStream, err)
	}
	var out []deadLetter
	for {
		batch, err := cons.Fetch(256, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", events.DeadLetterStream, err)
		}
		n, done := 0, false
		for m := range batch.Messages() {
			n++
			meta, err := m.Metadata()
			if err != nil {
				continue
			}
			hdr := m.Headers()
			out = append(out, parseDeadLetter(&jetstream.RawStreamMsg{Subject: m.Subject(), Sequence: meta.Sequence.Stream, Header: hdr, Data: m.Data(), Time: meta.Timestamp}))
			if meta.NumPending == 0 || meta.Sequence.Stream >= last {
				done = true
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			return nil, fmt.Errorf("read %s: %w", events.DeadLetterStream, err)
		}
		if done || n == 0 {
			return out, nil
		}
	}
}

func (d *dlq) printList(dls []deadLetter) error {
	if d.json {
		if dls == nil {
			dls = []deadLetter{}
		}
		return writeJSONOut(d.out, dls)
	}
	if len(dls) == 0 {
		fmt.Fprintln(d.out, "no dead letters")
		return nil
	}
	tw := tabwriter.NewWriter(d.out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTOPIC\tEVENT\tSUBJECT\tFAILED\tDELIVERIES\tREASON")
	for _, dl := range dls {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d\t%s\n", dl.ID, dl.Topic, orDash(dl.EventID), orDash(dl.EventSubject),
			fmtTime(firstTime(dl.FailedAt, dl.StoredAt)), dl.Deliveries, clipText(dl.Reason, 120))
	}
	return tw.Flush()
}

func (d *dlq) printShow(dl deadLetter) error {
	if d.json {
		return writeJSONOut(d.out, dl)
	}
	w := d.out
	fmt.Fprintf(w, "Dead letter %d on %s, stored %s\n", dl.ID, dl.Subject, fmtTime(dl.StoredAt))
	fmt.Fprintf(w, "  Topic:       %s", dl.Topic)
	if dl.OriginalSeq != 0 {
		fmt.Fprintf(w, " (stream %s sequence %d)", events.Stream, dl.OriginalSeq)
	}
	fmt.Fprintln(w)
	if dl.EventID != "" {
		fmt.Fprintf(w, "  Event:       %s %s, subject %s, time %s\n", dl.EventID, orDash(dl.EventType), orDash(dl.EventSubject), fmtTime(dl.EventTime))
	}
	if !dl.FailedAt.IsZero() {
		fmt.Fprintf(w, "  Failed at:   %s\n", fmtTime(dl.FailedAt))
	}
	if dl.Deliveries != 0 {
		fmt.Fprintf(w, "  Deliveries:  %d\n", dl.Deliveries)
	}
	fmt.Fprintf(w, "  Last error:  %s\n", dl.Reason)
	if dl.WatcherStatus != 0 || dl.WatcherBody != "" {
		fmt.Fprintf(w, "  Watcher:     HTTP %d %s\n", dl.WatcherStatus, dl.WatcherBody)
	}
	if !dl.Retryable {
		fmt.Fprintln(w, "  Retry:       not possible: fix the activation row and push it again")
	}
	if len(dl.History) > 0 {
		fmt.Fprintln(w, "  Attempts:")
		for _, a := range dl.History {
			fmt.Fprintf(w, "    #%d  %s  %s\n", a.Delivery, fmtTime(a.At), a.Error)
		}
	}
	fmt.Fprintln(w, "  Original message (secrets masked):")
	var pretty strings.Builder
	var v any
	if json.Unmarshal(dl.Event, &v) == nil {
		b, _ := json.MarshalIndent(v, "    ", "  ")
		pretty.Write(b)
	} else {
		pretty.Write(dl.Event)
	}
	fmt.Fprintf(w, "    %s\n", pretty.String())
	return nil
}

// retry puts each dead letter's original message back on its subject with
// a new Nats-Msg-Id (the old one is within BILLING's duplicate window or
// the ledger already, and the copy must not be dropped as a duplicate),
// then deletes the dead letter. The event id inside is unchanged: a failed
// event was never marked handled, so the worker applies it now. The new
// Nats-Msg-Id is derived from the dead letter, so a retry repeated after a
// crash between the publish and the delete is still deduplicated.
func (d *dlq) retry(ctx context.Context, dls []deadLetter, all bool) error {
	var done, skipped []deadLetter
	for _, dl := range dls {
		if !dl.Retryable {
			if !all {
				return fmt.Errorf("dead letter %d on %s cannot be retried: fix the activation row and push it again, then dlq drop %d", dl.ID, dl.Subject, dl.ID)
			}
			skipped = append(skipped, dl)
			continue
		}
		h := nats.Header{}
		for k, v := range dl.header {
			if strings.HasPrefix(strings.ToLower(k), "nats") || strings.HasPrefix(strings.ToLower(k), "watcherbridge-") {
				continue
			}
			h[k] = v
		}
		id := fmt.Sprintf("dlq-retry-%d-%s", dl.ID, dl.EventID)
		if _, err := d.pub.PublishAll(ctx, []events.Outgoing{{Subject: dl.Topic, ID: id, Data: dl.data, Header: h}}); err != nil {
			return errors.Join(d.report("retried", done, skipped), fmt.Errorf("republish dead letter %d to %s: %w", dl.ID, dl.Topic, err))
		}
		if err := d.stream.DeleteMsg(ctx, dl.ID); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
			return errors.Join(d.report("retried", done, skipped), fmt.Errorf("dead letter %d was republished but not deleted (dlq drop %d removes it): %w", dl.ID, dl.ID, err))
		}
		done = append(done, dl)
	}
	return d.report("retried", done, skipped)
}

func (d *dlq) drop(ctx context.Context, dls []deadLetter) error {
	var done []deadLetter
	for _, dl := range dls {
		if err := d.stream.DeleteMsg(ctx, dl.ID); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
			return errors.Join(d.report("dropped", done, nil), fmt.Errorf("drop dead letter %d: %w", dl.ID, err))
		}
		done = append(done, dl)
	}
	return d.report("dropped", done, nil)
}

// report prints what retry or drop did.
func (d *dlq) report(verb string, done, skipped []deadLetter) error {
	ids := func(dls []deadLetter) []uint64 {
		out := []uint64{}
		for _, dl := range dls {
			out = append(out, dl.ID)
		}
		return out
	}
	if d.json {
		return writeJSONOut(d.out, map[string]any{verb: ids(done), "skipped": ids(skipped)})
	}
	if len(done) == 0 && len(skipped) == 0 {
		fmt.Fprintf(d.out, "no dead letters %s\n", verb)
		return nil
	}
	for _, dl := range done {
		switch verb {
		case "retried":
			fmt.Fprintf(d.out, "retried %d: event %s republished to %s\n", dl.ID, orDash(dl.EventID), dl.Topic)
		default:
			fmt.Fprintf(d.out, "dropped %d (%s %s)\n", dl.ID, dl.Topic, orDash(dl.EventID))
		}
	}
	for _, dl := range skipped {
		fmt.Fprintf(d.out, "skipped %d: a rejected activation row; fix the row and push it again\n", dl.ID)
	}
	fmt.Fprintf(d.out, "%d %s, %d skipped\n", len(done), verb, len(skipped))
	return nil
}

func writeJSONOut(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func firstTime(ts ...time.Time) time.Time {
	for _, t := range ts {
		if !t.IsZero() {
			return t
		}
	}
	return time.Time{}
}

// clipText keeps a table cell on one line and bounded.
func clipText(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
