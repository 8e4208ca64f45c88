package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/watcherbridge/watcherbridge/events"
	"github.com/watcherbridge/watcherbridge/handlers"
)

// jsStatus answers the admin API's questions about JetStream.
type jsStatus struct{ js jetstream.JetStream }

// Consumers reports every worker consumer's lag.
func (s jsStatus) Consumers(ctx context.Context) ([]handlers.ConsumerLag, error) {
	stream, err := s.js.Stream(ctx, events.Stream)
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", events.Stream, err)
	}
	out := make([]handlers.ConsumerLag, 0, len(events.Topics()))
	var errs []error
	for _, topic := range events.Topics() {
		c, err := stream.Consumer(ctx, events.ConsumerName(topic))
		if errors.Is(err, jetstream.ErrConsumerNotFound) {
			errs = append(errs, fmt.Errorf("consumer %s of topic %s is missing: its events wait until the bridge is restarted, which recreates it", events.ConsumerName(topic), topic))
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("consumer %s: %w", events.ConsumerName(topic), err))
			continue
		}
		info, err := c.Info(ctx)
		if err != nil {
			errs = append(errs, fmt.Errorf("consumer %s: %w", events.ConsumerName(topic), err))
			continue
		}
		lag := handlers.ConsumerLag{Topic: topic, Consumer: info.Name, Pending: info.NumPending, AckPending: info.NumAckPending,
			Redelivered: info.NumRedelivered, Delivered: info.Delivered.Stream}
		if info.Delivered.Last != nil {
			lag.LastActive = info.Delivered.Last.UTC()
		}
		out = append(out, lag)
	}
	return out, errors.Join(errs...)
}

// DeadLetters is how many messages DEADLETTER holds.
func (s jsStatus) DeadLetters(ctx context.Context) (uint64, error) {
	stream, err := s.js.Stream(ctx, events.DeadLetterStream)
	if err != nil {
		return 0, fmt.Errorf("stream %s: %w", events.DeadLetterStream, err)
	}
	return stream.CachedInfo().State.Msgs, nil
}

// adminFlags are the flags of every command that asks the running bridge.
type adminFlags struct {
	url    *string
	output *string
}

func newAdminFlags(fs *flag.FlagSet) adminFlags {
	return adminFlags{
		url:    fs.String("admin-url", defaultAdminURL, "admin endpoint of the running bridge (its --admin-listen)"),
		output: fs.String("output", "table", "table for people, json for scripts"),
	}
}

func (f adminFlags) check() error {
	if *f.output != "table" && *f.output != "json" {
		return fmt.Errorf("--output %q: want table or json", *f.output)
	}
	return nil
}

// adminCall sends one request to the running bridge's admin API and
// decodes its JSON answer into out; an error names the admin URL to check.
func adminCall(ctx context.Context, method, adminURL, path string, body io.Reader, out any) error {
	resp, err := adminRequest(ctx, method, adminURL, path, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("answer of %s%s: %w", adminURL, path, err)
	}
	return nil
}

// adminRequest returns the answer of a 2xx, or an error with the bridge's
// message.
func adminRequest(ctx context.Context, method, adminURL, path string, body io.Reader) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(adminURL, "/")+path, body)
	if err != nil {
		return nil, fmt.Errorf("--admin-url %q: %w", adminURL, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("reach the bridge at %s (is it running? check --admin-url): %w", adminURL, err)
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		var e struct {
			Error string `json:"error"`
		}
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		if json.Unmarshal(raw, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(raw))
		}
		return nil, fmt.Errorf("%s: %s", resp.Status, e.Error)
	}
	return resp, nil
}

// runStatus is `watcherbridge status`: what the running bridge knows about
// its consumers, dead letters, state file and Watcher.
func runStatus(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("watcherbridge status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	af := newAdminFlags(fs)
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	if err := af.check(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var st handlers.Status
	if err := adminCall(ctx, http.MethodGet, *af.url, "/admin/status", nil, &st); err != nil {
		return err
	}
	if *af.output == "json" {
		return writeJSONOut(stdout, st)
	}
	printStatus(stdout, st)
	return nil
}

func printStatus(w io.Writer, st handlers.Status) {
	reach := "reachable"
	if !st.Watcher.Reachable {
		reach = "UNREACHABLE: " + st.Watcher.Error
	}
	fmt.Fprintf(w, "NATS:          %s\n", orDash(st.NATS))
	fmt.Fprintf(w, "Watcher:       %s, circuit %s\n", reach, orDash(st.Watcher.Circuit))
	if st.Watcher.Health != "" {
		fmt.Fprintf(w, "               not ready: %s\n", st.Watcher.Health)
	}
	dead := "unknown"
	if st.DeadLetters != nil {
		dead = fmt.Sprint(*st.DeadLetters)
	}
	fmt.Fprintf(w, "Dead letters:  %s\n", dead)
	fmt.Fprintf(w, "State file:    %s, %s; %d cameras (%d applied), %d subscribers\n", st.Store.Path, humanBytes(st.Store.Bytes),
		st.Store.Cameras, st.Store.Applied, st.Store.Subscribers)
	fmt.Fprintln(w, "Consumers:")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  TOPIC\tPENDING\tACK PENDING\tREDELIVERED\tLAST DELIVERED")
	for _, c := range st.Consumers {
		fmt.Fprintf(tw, "  %s\t%d\t%d\t%d\t%s\n", c.Topic, c.Pending, c.AckPending, c.Redelivered, fmtTime(c.LastActive))
	}
	_ = tw.Flush()
	for _, e := range st.Errors {
		fmt.Fprintf(w, "could not read %s\n", e)
	}
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
