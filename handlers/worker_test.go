package handlers

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/rs/zerolog"

	"github.com/watcherbridge/watcherbridge/events"
	"github.com/watcherbridge/watcherbridge/store"
)

type countingApplier struct{ calls int }

func (a *countingApplier) Apply(context.Context, events.Envelope) (Outcome, error) {
	a.calls++
	return Applied, nil
}

// An event found in the ledger is skipped from its id alone (the pull
// subscriber acks it); any other goes through Handle to the applier.
func TestWorkerSkipsAnEventHandledBeforeWithoutApplyingIt(t *testing.T) {
	db, err := store.Open(filepath.Join(t.TempDir(), "state.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Update(func(tx *store.Tx) error { return tx.MarkSeen("asg-old", time.Now()) }); err != nil {
		t.Fatal(err)
	}
	app := &countingApplier{}
	w := NewWorker(app, nil, zerolog.Nop(), WorkerConfig{Ledger: db})
	send := func(id string) {
		env, err := events.NewEnvelope(events.CameraAssigned, id, "SN-1", time.Now(), map[string]any{"agent_serial": "SN-1", "organization_id": 1})
		if err != nil {
			t.Fatal(err)
		}
		body, err := env.Encode()
		if err != nil {
			t.Fatal(err)
		}
		if w.Skip(events.Incoming{Subject: events.CameraAssigned, Body: body, Delivered: 1, StreamSeq: 1}) {
			return
		}
		msg := message.NewMessage(id, body)
		msg.Metadata.Set(events.MetaSubject, events.CameraAssigned)
		msg.Metadata.Set(events.MetaDelivered, "1")
		if err := w.Handle(msg); err != nil {
			t.Fatalf("%s: %v", id, err)
		}
	}
	send("asg-old")
	if app.calls != 0 {
		t.Fatalf("an event in the ledger reached the applier")
	}
	send("asg-new")
	if app.calls != 1 {
		t.Fatalf("a new event reached the applier %d times, want once", app.calls)
	}
	// Binary mode: the id is the ce-id header.
	if !w.Skip(events.Incoming{Subject: events.CameraAssigned, Body: []byte(`{}`), Header: func(k string) string {
		return map[string]string{"ce-specversion": "1.0", "ce-id": "asg-old"}[k]
	}}) {
		t.Fatalf("a binary-mode event in the ledger was not skipped")
	}
}
