package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"text/tabwriter"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/schollz/progressbar/v3"

	"github.com/watcherbridge/watcherbridge/events"
	"github.com/watcherbridge/watcherbridge/handlers"
)

// jsEvents reads a replay's events from BILLING with an ordered consumer
// of its own: ephemeral, never acknowledging, so the worker's durable
// consumers and live processing are untouched.
type jsEvents struct{ js jetstream.JetStream }

// Events implements handlers.EventSource. The range ends at the topic's
// last message when the replay starts, so a busy topic cannot keep it
// going forever.
func (s jsEvents) Events(ctx context.Context, q handlers.ReplayQuery, fn func(handlers.StoredEvent) error) error {
	stream, err := s.js.Stream(ctx, events.Stream)
	if err != nil {
		return fmt.Errorf("stream %s: %w", events.Stream, err)
	}
	last, err := stream.GetLastMsgForSubject(ctx, q.Topic)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("last %s event: %w", q.Topic, err)
	}
	end := last.Sequence
	if q.ToSeq > 0 && q.ToSeq < end {
		end = q.ToSeq
	}
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: []string{q.Topic}}
	switch {
	case q.FromSeq > 0:
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, q.FromSeq
	case !q.Since.IsZero():
		since := q.Since
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &since
	}
	if q.FromSeq > end {
		return nil
	}
	cons, err := stream.OrderedConsumer(ctx, cfg)
	if err != nil {
		return fmt.Errorf("replay consumer on %s: %w", q.Topic, err)
	}
	for {
		batch, err := cons.Fetch(500, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			return fmt.Errorf("read %s: %w", q.Topic, err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			meta, err := m.Metadata()
			if err != nil {
				return err
			}
			seq := meta.Sequence.Stream
			if seq > end || (!q.Until.IsZero() && meta.Timestamp.After(q.Until)) {
				return nil
			}
			pending := meta.NumPending
			if rest := end - seq; rest < pending {
				pending = rest
			}
			h := map[string]string{}
			for k, v := range m.Headers() {
				if len(v) > 0 {
					h[k] = v[0]
				}
			}
			if err := fn(handlers.StoredEvent{Seq: seq, Pending: pending, Data: m.Data(), Header: h}); err != nil {
				return err
			}
			if seq >= end || meta.NumPending == 0 {
				return nil
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			return fmt.Errorf("read %s: %w", q.Topic, err)
		}
		if n == 0 {
			return nil
		}
	}
}

// runReplay is `watcherbridge replay`: the running bridge reads the range
// from its stream and re-runs it through its applier; this command starts
// it and shows its progress.
func runReplay(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("watcherbridge replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: watcherbridge replay --topic T [--since TIME | --from-seq N] [--until TIME | --to-seq N] [--subject S] [--dry-run] [--force]")
		fmt.Fprintln(stderr, "TIME is RFC 3339 or a duration back from now (24h).")
		fs.PrintDefaults()
	}
	af := newAdminFlags(fs)
	topic := fs.String("topic", "", "topic whose stored events are replayed, e.g. camera.assigned (required)")
	since := fs.String("since", "", "first event stored at or after TIME")
	until := fs.String("until", "", "last event stored at or before TIME")
	fromSeq := fs.Uint64("from-seq", 0, "first stream sequence")
	toSeq := fs.Uint64("to-seq", 0, "last stream sequence")
	subject := fs.String("subject", "", "only events about this camera serial, camera id or subscriber")
	dryRun := fs.Bool("dry-run", false, "change nothing; print what would change, per camera or subscriber")
	force := fs.Bool("force", false, "send the desired state even where the bridge believes Watcher holds it (Watcher restored from an older backup)")
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if err := af.check(); err != nil {
		return err
	}
	if *topic == "" {
		fs.Usage()
		return errors.New("replay needs --topic")
	}
	if *fromSeq > 0 && *toSeq > 0 && *fromSeq > *toSeq {
		return fmt.Errorf("--from-seq %d is after --to-seq %d: the range is empty", *fromSeq, *toSeq)
	}
	now := time.Now()
	q := handlers.ReplayQuery{Topic: *topic, Subject: *subject, FromSeq: *fromSeq, ToSeq: *toSeq,
		ReplayOptions: handlers.ReplayOptions{Force: *force, DryRun: *dryRun}}
	var err error
	if q.Since, err = parseSince(*since, now); err != nil {
		return fmt.Errorf("--since: %w", err)
	}
	if q.Until, err = parseSince(*until, now); err != nil {
		return fmt.Errorf("--until: %w", err)
	}
	body, _ := json.Marshal(q)
	resp, err := adminRequest(ctx, http.MethodPost, *af.url, "/admin/replay", bytes.NewReader(body))
	if err != nil {
		return err
	}
	defer resp.Body.Close()

	prog := newProgress(stderr, "replay "+*topic)
	var changes []handlers.Change
	var result *handlers.ReplayResult
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		var l handlers.ReplayLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			return fmt.Errorf("replay answer %q: %w", sc.Text(), err)
		}
		switch {
		case l.Error != "":
			prog.finish()
			return fmt.Errorf("replay stopped after %d changes: %s", len(changes), l.Error)
		case l.Change != nil:
			changes = append(changes, *l.Change)
		case l.Progress != nil:
			prog.update(l.Progress.Done, l.Progress.Total)
		case l.Result != nil:
			result = l.Result
		}
	}
	prog.finish()
	if err := sc.Err(); err != nil {
		return fmt.Errorf("replay answer: %w", err)
	}
	if result == nil {
		return errors.New("the bridge ended the replay without a result (did it shut down?)")
	}
	result.Changes = changes
	if result.Changes == nil {
		result.Changes = []handlers.Change{}
	}
	if *af.output == "json" {
		return writeJSONOut(stdout, result)
	}
	printChanges(stdout, changes, result.DryRun)
	fmt.Fprintf(stdout, "%s: %d events read, %d matched, %d merged, %d stale, %d invalid; %s %d cameras, %d users, %d folder permissions; %d errors\n",
		map[bool]string{true: "dry run", false: "replay"}[result.DryRun], result.Read, result.Matched, result.Merged, result.Stale, result.Invalid,
		map[bool]string{true: "would change", false: "changed"}[result.DryRun], result.Cameras, result.Users, result.Folders, result.Errors)
	if result.Errors > 0 {
		return fmt.Errorf("%d changes failed", result.Errors)
	}
	return nil
}

// printChanges lists changes per camera or subscriber, with a readable
// diff of each.
func printChanges(w io.Writer, changes []handlers.Change, dryRun bool) {
	verb := map[string]string{"create": "created", "update": "updated", "grant": "granted", "revoke": "revoked", "error": "FAILED"}
	if dryRun {
		verb = map[string]string{"create": "would be created", "update": "would be updated", "grant": "would be granted", "revoke": "would be revoked", "error": "cannot be computed"}
	}
	for _, c := range changes {
		what := c.Kind + " " + c.Key
		if c.Name != "" {
			what += " (" + c.Name + ")"
		}
		fmt.Fprintf(w, "%s: %s", what, verb[c.Action])
		if c.Error != "" {
			fmt.Fprintf(w, ": %s", c.Error)
		}
		fmt.Fprintln(w)
		tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
		for _, d := range c.Diff {
			from := d.From
			switch {
			case c.Kind != "camera": // the bridge keeps only a hash of what it sent
				fmt.Fprintf(tw, "    %s:\t%s\n", d.Field, d.To)
				continue
			case from == "":
				from = "(unset)"
			}
			fmt.Fprintf(tw, "    %s:\t%s\t-> %s\n", d.Field, from, d.To)
		}
		_ = tw.Flush()
	}
}

// progress shows a long operation: a bar with rate and ETA on a terminal,
// a plain line every few seconds anywhere else.
type progress struct {
	w     io.Writer
	label string
	bar   *progressbar.ProgressBar
	last  time.Time
	done  int
	total int
}

func newProgress(w io.Writer, label string) *progress {
	p := &progress{w: w, label: label}
	if f, ok := w.(*os.File); ok && isatty.IsTerminal(f.Fd()) {
		p.bar = progressbar.NewOptions(-1,
			progressbar.OptionSetWriter(f),
			progressbar.OptionSetDescription(label),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("events"),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
		)
	}
	return p
}

func (p *progress) update(done, total int) {
	p.done, p.total = done, total
	if p.bar != nil {
		p.bar.ChangeMax(total)
		_ = p.bar.Set(done)
		return
	}
	if now := time.Now(); now.Sub(p.last) >= 2*time.Second {
		p.last = now
		fmt.Fprintf(p.w, "%s: %d/%d events\n", p.label, done, total)
	}
}

func (p *progress) finish() {
	if p.bar != nil {
		_ = p.bar.Finish()
		return
	}
	fmt.Fprintf(p.w, "%s: %d/%d events, done\n", p.label, p.done, p.total)
}
