package main

import (
	"encoding/json"
	"flag"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/watcherbridge/watcherbridge/events"
)

// streamsDir holds the stream and consumer definitions for operators who
// provision JetStream themselves.
const streamsDir = "../../deploy/nats/streams"

// TestConsumerManifestsMatchTheBridge keeps deploy/nats/streams in step with
// the consumers a bridge with default flags creates: an operator who
// provisions from those files must get what the bridge would have made.
// WATCHERBRIDGE_UPDATE_MANIFESTS=1 rewrites them.
func TestConsumerManifestsMatchTheBridge(t *testing.T) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c, _, _ := serveFlags(fs)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	for _, topic := range events.Topics() {
		want := events.ConsumerConfig(topic, c.AckWait, c.MaxAckPending)
		path := filepath.Join(streamsDir, want.Durable+".json")
		if os.Getenv("WATCHERBRIDGE_UPDATE_MANIFESTS") == "1" {
			b, err := json.MarshalIndent(want, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("consumer of %s: %v", topic, err)
		}
		var have jetstream.ConsumerConfig
		if err := json.Unmarshal(raw, &have); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if !reflect.DeepEqual(have, want) {
			wb, _ := json.MarshalIndent(want, "", "  ")
			t.Errorf("%s differs from the consumer the bridge creates; want\n%s\n(rewrite with WATCHERBRIDGE_UPDATE_MANIFESTS=1 go test -run %s ./cmd/watcherbridge)", path, wb, t.Name())
		}
	}
}
