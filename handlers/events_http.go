package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/rs/zerolog"

	"github.com/watcherbridge/watcherbridge/events"
	"github.com/watcherbridge/watcherbridge/handlers/plans"
)

// EventsConfig tunes POST /events.
type EventsConfig struct {
	// MaxBodyBytes caps a request; larger ones get 413.
	MaxBodyBytes int64
	// MaxEvents caps the events of one batch.
	MaxEvents int
	// RetryAfter is what a 503 tells the sender to wait.
	RetryAfter time.Duration
	// PublishTimeout bounds the wait for JetStream's acknowledgement.
	PublishTimeout time.Duration
	// Ready, if set, is asked first; an error answers 503 at once.
	Ready func() error
	// Plans refuses, with 400, an event naming a plan the plans file lacks
	// (nil: no plans file, every plan is unknown), rather than letting it
	// be dead-lettered later.
	Plans *plans.Set
}

func (c *EventsConfig) setDefaults() {
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = 8 << 20
	}
	if c.MaxEvents <= 0 {
		c.MaxEvents = 10_000
	}
	if c.RetryAfter <= 0 {
		c.RetryAfter = 5 * time.Second
	}
	if c.PublishTimeout <= 0 {
		c.PublishTimeout = 15 * time.Second
	}
}

// Events is POST /events, the entry for billing systems that cannot speak
// NATS: CloudEvents over HTTP in structured mode
// (application/cloudevents+json), batched mode
// (application/cloudevents-batch+json) or binary mode (ce-* headers, the
// body is the data). Every event is checked as the worker would check it
// (envelope, known type, payload, plan); one invalid event refuses the
// whole request with 400 and nothing is published. Otherwise the events go
// to JetStream and the answer is 200 once it acknowledged all of them.
type Events struct {
	pub Publisher
	cfg EventsConfig
	log zerolog.Logger
}

// NewEvents returns the /events handler.
func NewEvents(pub Publisher, cfg EventsConfig, log zerolog.Logger) *Events {
	cfg.setDefaults()
	return &Events{pub: pub, cfg: cfg, log: log}
}

// EventsReply is the JSON body of a 200 from /events.
type EventsReply struct {
	Accepted  int           `json:"accepted"`
	Duplicate int           `json:"duplicate"`
	Events    []EventResult `json:"events"`
}

// EventResult is one event of the request as JetStream took it.
type EventResult struct {
	ID        string `json:"id"`
	Type      string `json:"type"`
	Duplicate bool   `json:"duplicate,omitempty"`
}

// Content types of CloudEvents over HTTP.
const (
	ContentTypeCloudEvent      = "application/cloudevents+json"
	ContentTypeCloudEventBatch = "application/cloudevents-batch+json"
)

func (h *Events) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, http.StatusMethodNotAllowed, "use POST with a CloudEvents body")
		return
	}
	log := h.log.With().Str("remote", r.RemoteAddr).Logger()
	if h.cfg.Ready != nil {
		if err := h.cfg.Ready(); err != nil {
			log.Warn().Err(err).Msg("events refused: event stream unavailable")
			h.unavailable(w)
			return
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.cfg.MaxBodyBytes))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body exceeds %d bytes: send fewer events per request", tooBig.Limit))
		return
	case err != nil:
		writeError(w, http.StatusBadRequest, "cannot read body: "+err.Error())
		return
	}
	envs, err := h.decode(r.Header, body)
	if err != nil {
		log.Warn().Err(err).Msg("events refused")
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	msgs := make([]events.Outgoing, 0, len(envs))
	for _, env := range envs {
		data, err := env.Encode()
		if err != nil {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("event %s: %v", env.ID, err))
			return
		}
		msgs = append(msgs, events.Outgoing{Subject: env.Type, ID: env.ID, Data: data})
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.cfg.PublishTimeout)
	defer cancel()
	dups, err := h.pub.PublishAll(ctx, msgs)
	if err != nil {
		log.Warn().Err(err).Int("events", len(msgs)).Msg("events not recorded, sender will retry")
		h.unavailable(w)
		return
	}
	reply := EventsReply{Events: make([]EventResult, len(envs))}
	for i, env := range envs {
		reply.Events[i] = EventResult{ID: env.ID, Type: env.Type, Duplicate: dups[i]}
		if dups[i] {
			reply.Duplicate++
		} else {
			reply.Accepted++
		}
	}
	log.Info().Int("accepted", reply.Accepted).Int("duplicate", reply.Duplicate).Msg("events recorded")
	writeJSON(w, http.StatusOK, reply)
}

// decode reads the request's events in whichever CloudEvents HTTP mode it
// uses and checks each one.
func (h *Events) decode(hdr http.Header, body []byte) ([]events.Envelope, error) {
	ct, _, _ := mime.ParseMediaType(hdr.Get("Content-Type"))
	var envs []events.Envelope
	switch {
	case hdr.Get("ce-specversion") != "":
		env, err := events.Decode(body, func(k string) string { return hdr.Get(k) })
		if err != nil {
			return nil, err
		}
		envs = []events.Envelope{env}
	case ct == ContentTypeCloudEventBatch:
		var raws []json.RawMessage
		if err := json.Unmarshal(body, &raws); err != nil {
			return nil, fmt.Errorf("a %s body must be a JSON array of CloudEvents envelopes: %v", ContentTypeCloudEventBatch, err)
		}
		if len(raws) == 0 {
			return nil, errors.New("empty batch: send at least one event")
		}
		if len(raws) > h.cfg.MaxEvents {
			return nil, fmt.Errorf("batch of %d events, over the limit of %d: split it", len(raws), h.cfg.MaxEvents)
		}
		for i, raw := range raws {
			env, err := events.Decode(raw, nil)
			if err != nil {
				return nil, fmt.Errorf("event %d of the batch: %w", i, err)
			}
			envs = append(envs, env)
		}
	case ct == ContentTypeCloudEvent || ct == "application/json" || ct == "":
		env, err := events.Decode(body, nil)
		if err != nil {
			return nil, err
		}
		envs = []events.Envelope{env}
	default:
		return nil, fmt.Errorf("Content-Type %q: send %s, %s, or binary mode with ce-* headers", ct, ContentTypeCloudEvent, ContentTypeCloudEventBatch)
	}
	seen := make(map[string]int, len(envs))
	for i, env := range envs {
		if err := h.check(env); err != nil {
			if len(envs) > 1 {
				return nil, fmt.Errorf("event %d of the batch: %w", i, err)
			}
			return nil, err
		}
		if j, dup := seen[env.ID]; dup && !bytes.Equal(mustEncode(envs[j]), mustEncode(env)) {
			return nil, fmt.Errorf("events %d and %d of the batch share the id %q but differ", j, i, env.ID)
		}
		seen[env.ID] = i
	}
	return envs, nil
}

// check refuses what the worker would dead-letter: an unknown type, a
// payload that does not validate, a plan the plans file lacks.
func (h *Events) check(env events.Envelope) error {
	if env.Type == events.CameraActivated {
		return fmt.Errorf("event %s: camera.activated comes from the activation server: POST it to /activations", env.ID)
	}
	p, err := events.DecodePayload(env)
	if err != nil {
		return err
	}
	if id := planOf(p); id != "" {
		if _, err := h.cfg.Plans.Lookup(id); err != nil {
			return fmt.Errorf("event %s: %w", env.ID, err)
		}
	}
	return nil
}

func planOf(p events.Payload) string {
	switch p := p.(type) {
	case *events.Assignment:
		return p.PlanID
	case *events.CameraAddition:
		return p.PlanID
	case *events.SubscriberProfile:
		return p.PlanID
	case *events.PlanChange:
		return p.PlanID
	}
	return ""
}

func mustEncode(env events.Envelope) []byte {
	b, _ := env.Encode()
	return b
}

func (h *Events) unavailable(w http.ResponseWriter) {
	w.Header().Set("Retry-After", strconv.Itoa(int(h.cfg.RetryAfter.Seconds())))
	writeError(w, http.StatusServiceUnavailable, "event stream unavailable, the events may not be recorded: send the same events again later (those already recorded count as duplicates)")
}
