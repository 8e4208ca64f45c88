package handlers

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/watcherbridge/watcherbridge/events"
	"github.com/watcherbridge/watcherbridge/handlers/plans"
)

type memPublisher struct {
	err  error
	msgs []events.Outgoing
}

func (p *memPublisher) PublishAll(_ context.Context, msgs []events.Outgoing) ([]bool, error) {
	if p.err != nil {
		return nil, p.err
	}
	p.msgs = append(p.msgs, msgs...)
	return make([]bool, len(msgs)), nil
}

func TestEventsEndpoint(t *testing.T) {
	t.Parallel()
	set, err := plans.Load(strings.NewReader("plans:\n  basic:\n    preset_id: 2\n    suspension: disable_user\n"))
	if err != nil {
		t.Fatal(err)
	}
	const plan = `{"specversion":"1.0","id":"e1","source":"urn:billing","type":"plan.changed","time":"2026-01-01T00:00:00Z","data":{"subscriber_id":"S","plan_id":"basic"}}`
	tests := []struct {
		name       string
		give       string
		ct         string
		header     map[string]string
		pubErr     error
		wantStatus int
		wantBody   string
		wantMsgs   int
	}{
		{name: "structured", give: plan, ct: ContentTypeCloudEvent, wantStatus: 200, wantMsgs: 1},
		{name: "batch", give: "[" + plan + "," + strings.Replace(plan, `"e1"`, `"e2"`, 1) + "]", ct: ContentTypeCloudEventBatch, wantStatus: 200, wantMsgs: 2},
		{name: "binary", give: `{"subscriber_id":"S"}`, ct: "application/json", header: map[string]string{"ce-specversion": "1.0", "ce-id": "b1", "ce-source": "urn:billing", "ce-type": "payment.overdue", "ce-time": "2026-01-01T00:00:00Z"}, wantStatus: 200, wantMsgs: 1},
		{name: "unknown plan", give: strings.Replace(plan, "basic", "gold", 1), ct: ContentTypeCloudEvent, wantStatus: 400, wantBody: `unknown plan \"gold\"`},
		{name: "unknown type", give: strings.Replace(plan, "plan.changed", "plan.exploded", 1), ct: ContentTypeCloudEvent, wantStatus: 400, wantBody: "plan.exploded"},
		{name: "bad batch member", give: "[" + plan + `,{"id":"x"}]`, ct: ContentTypeCloudEventBatch, wantStatus: 400, wantBody: "event 1 of the batch"},
		{name: "missing field", give: strings.Replace(plan, `"subscriber_id":"S",`, "", 1), ct: ContentTypeCloudEvent, wantStatus: 400, wantBody: "subscriber_id"},
		{name: "activation elsewhere", give: strings.Replace(plan, "plan.changed", "camera.activated", 1), ct: ContentTypeCloudEvent, wantStatus: 400, wantBody: "/activations"},
		{name: "jetstream down", give: plan, ct: ContentTypeCloudEvent, pubErr: &events.UnavailableError{Err: errors.New("no responders")}, wantStatus: 503, wantBody: "send the same events again"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			pub := &memPublisher{err: tt.pubErr}
			h := NewEvents(pub, EventsConfig{Plans: set}, zerolog.Nop())
			req := httptest.NewRequest(http.MethodPost, "/events", strings.NewReader(tt.give))
			req.Header.Set("Content-Type", tt.ct)
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.wantStatus || !strings.Contains(rec.Body.String(), tt.wantBody) || len(pub.msgs) != tt.wantMsgs {
				t.Errorf("HTTP %d %s (%d published), want %d containing %q (%d published)", rec.Code, rec.Body, len(pub.msgs), tt.wantStatus, tt.wantBody, tt.wantMsgs)
			}
			if tt.wantStatus == 503 && rec.Header().Get("Retry-After") == "" {
				t.Errorf("503 without Retry-After")
			}
		})
	}
}
