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

// TestStreamManifestsMatchTheBridge keeps deploy/nats/streams/BILLING.json
// and DEADLETTER.json in step with the streams a bridge with default flags
// creates: an operator who provisions from those files must get what the
// bridge would have made (allow_atomic included, or ingest falls back to one
// fsync per row). Both go through a JetStream server, which fills in what
// each leaves out, and are compared field by field. Only the replicas
// differ: the files are for the three-node cluster of deploy/compose.yaml
// (--stream-replicas=3), the test server is a single node.
func TestStreamManifestsMatchTheBridge(t *testing.T) {
	integration(t)
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c, _, _ := serveFlags(fs)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	js := jsClient(t, startNATS(t, -1, t.TempDir()).ClientURL())
	for _, bridge := range []jetstream.StreamConfig{
		events.StreamConfig(c.Replicas),
		events.DeadLetterStreamConfig(c.Replicas, c.DeadLetterMaxAge),
	} {
		path := filepath.Join(streamsDir, bridge.Name+".json")
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("stream %s: %v", bridge.Name, err)
		}
		var file jetstream.StreamConfig
		if err := json.Unmarshal(raw, &file); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if file.Replicas != 3 {
			t.Errorf("%s: num_replicas %d, want 3 for the cluster", path, file.Replicas)
		}
		file.Replicas = bridge.Replicas

		have, want := createdConfig(t, js, file), createdConfig(t, js, bridge)
		hv, wv := reflect.ValueOf(have), reflect.ValueOf(want)
		for i := range hv.NumField() {
			h, w := hv.Field(i).Interface(), wv.Field(i).Interface()
			if !reflect.DeepEqual(h, w) {
				hj, _ := json.Marshal(h)
				wj, _ := json.Marshal(w)
				t.Errorf("%s: %s is %s, the bridge creates %s", path, hv.Type().Field(i).Name, hj, wj)
			}
		}
	}
}

// createdConfig is the configuration a JetStream server gives a stream
// created from cfg, defaults filled in. The stream is deleted again.
func createdConfig(t *testing.T, js jetstream.JetStream, cfg jetstream.StreamConfig) jetstream.StreamConfig {
	t.Helper()
	s, err := js.CreateStream(t.Context(), cfg)
	if err != nil {
		t.Fatalf("create stream %s: %v", cfg.Name, err)
	}
	if err := js.DeleteStream(t.Context(), cfg.Name); err != nil {
		t.Fatalf("delete stream %s: %v", cfg.Name, err)
	}
	return s.CachedInfo().Config
}
