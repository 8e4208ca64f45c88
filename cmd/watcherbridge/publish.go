package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/watcherbridge/watcherbridge/events"
	"github.com/watcherbridge/watcherbridge/events/activation"
)

func runPublish(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("watcherbridge publish", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: watcherbridge publish TYPE (--data JSON | --file FILE | -) [flags]")
		fmt.Fprintln(stderr, "The JSON is the event's data, or a whole CloudEvents envelope (with specversion).")
		fs.PrintDefaults()
	}
	natsURLOf := natsFlags(fs)
	data := fs.String("data", "", "event data as JSON")
	file := fs.String("file", "", "file holding the event data (or - for standard input)")
	id := fs.String("id", "", "event id (default: a new random id)")
	subject := fs.String("subject", "", "event subject (default: agent_serial or subscriber_id of the data)")
	at := fs.String("time", "", "RFC 3339 time the fact became true in billing (default: now)")
	source := fs.String("source", "urn:watcherbridge:cli", "event source")
	// The type comes first on the command line; flag parsing stops at it.
	var typ string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		typ, args = args[0], args[1:]
	}
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	rest := fs.Args()
	if typ == "" && len(rest) > 0 {
		typ, rest = rest[0], rest[1:]
	}
	if len(rest) == 1 && rest[0] == "-" && *file == "" {
		*file = "-"
	} else if len(rest) > 0 {
		return fmt.Errorf("unexpected arguments %q", rest)
	}
	if typ == "" {
		fs.Usage()
		return errors.New("publish needs an event TYPE, e.g. camera.assigned")
	}
	raw, err := readEventInput(*data, *file)
	if err != nil {
		return err
	}
	if err := checkJSON(raw, *data, *file); err != nil {
		return err
	}
	env, err := buildEnvelope(typ, raw, *id, *subject, *at, *source)
	if err != nil {
		return err
	}

	natsURL, err := natsURLOf()
	if err != nil {
		return err
	}
	nc, err := dialNATS(natsURL, "watcherbridge-publish")
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc, events.JetStreamOptions()...)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	dup, err := events.NewPublisher(js, 0).PublishEnvelope(ctx, env)
	if err != nil {
		return fmt.Errorf("publish %s to %s: %w (is the bridge running? check --nats-url)", env.ID, redactURL(natsURL), err)
	}
	out := json.NewEncoder(stdout)
	out.SetIndent("", "  ")
	return out.Encode(map[string]any{"id": env.ID, "type": env.Type, "subject": env.Subject, "time": env.Time, "duplicate": dup})
}

func readEventInput(data, file string) ([]byte, error) {
	switch {
	case data != "" && file != "":
		return nil, errors.New("give the event as --data or --file, not both")
	case data != "":
		return []byte(data), nil
	case file == "-":
		return io.ReadAll(io.LimitReader(os.Stdin, 16<<20))
	case file != "":
		return os.ReadFile(file)
	}
	return nil, errors.New("no event given: use --data JSON, --file FILE or - for standard input")
}

// checkJSON names the flag the event came from when it is not JSON; the
// decoder's message alone ("invalid character 'o' in literal null") does
// not say what was being read.
func checkJSON(raw []byte, data, file string) error {
	var v any
	err := json.Unmarshal(raw, &v)
	if err == nil {
		return nil
	}
	switch {
	case data != "":
		return fmt.Errorf("--data is not JSON: %w", err)
	case file == "-":
		return fmt.Errorf("standard input is not JSON: %w", err)
	}
	return fmt.Errorf("--file %s is not JSON: %w", file, err)
}

// buildEnvelope wraps data in a valid envelope, or checks a whole envelope
// given as is, and validates the payload of the types the bridge knows so a
// mistake is caught here rather than in the dead letters.
func buildEnvelope(typ string, raw []byte, id, subject, at, source string) (events.Envelope, error) {
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(raw, &probe); err != nil {
		return events.Envelope{}, fmt.Errorf("event is not a JSON object: %w", err)
	}
	var env events.Envelope
	if _, whole := probe["specversion"]; whole {
		var err error
		if env, err = events.Decode(raw, nil); err != nil {
			return env, err
		}
		if env.Type != typ {
			return env, fmt.Errorf("envelope type %q differs from TYPE %q", env.Type, typ)
		}
	} else {
		t := time.Now()
		if at != "" {
			var err error
			if t, err = time.Parse(time.RFC3339Nano, at); err != nil {
				return env, fmt.Errorf("--time %q is not an RFC 3339 time", at)
			}
		}
		env = events.Envelope{SpecVersion: events.SpecVersion, ID: id, Source: source, Type: typ, Time: t.UTC(),
			Subject: subject, DataContentType: "application/json", Data: raw}
		if env.ID == "" {
			env.ID = events.RandomID()
		}
	}
	if env.Subject == "" {
		for _, k := range []string{"agent_serial", "camera_id", "subscriber_id"} {
			var s string
			if json.Unmarshal(probe[k], &s) == nil && s != "" {
				env.Subject = s
				break
			}
		}
	}
	switch typ {
	default:
		p, err := events.DecodePayload(env)
		if err != nil {
			return env, err
		}
		if env.Subject == "" {
			env.Subject = p.Subject()
		}
	case events.CameraActivated:
		var r activation.Row
		if err := env.DecodeData(&r); err != nil {
			return env, err
		}
		if err := r.Validate(); err != nil {
			return env, err
		}
	}
	return env, env.Validate()
}
