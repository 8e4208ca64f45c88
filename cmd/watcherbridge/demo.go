package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/watcherbridge/watcherbridge/events"
	"github.com/watcherbridge/watcherbridge/events/activation"
	"github.com/watcherbridge/watcherbridge/handlers"
	"github.com/watcherbridge/watcherbridge/watcherclient"
	"github.com/watcherbridge/watcherbridge/watcherclient/watchertest"
)

// runDemo runs the main job end to end on embedded defaults: a fake Watcher,
// the bridge with embedded JetStream and a fresh state file, billing's
// sample inventory, and a real HTTP push of the sample activation file. It
// fails unless every camera ends as expected.
func runDemo(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("watcherbridge demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	examples := fs.String("examples", "deploy/examples", "directory with inventory.csv, activation.csv and assign-held.json")
	dataDir := fs.String("data-dir", "", "state directory (default: a temporary one, removed afterwards)")
	logFile := fs.String("log-file", "", "where the bridge logs (default: <data-dir>/watcherbridge.log)")
	// No environment here: WATCHERBRIDGE_DATA_DIR of a real deployment
	// must not become the demo's state.
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dataDir != "" {
		if err := os.MkdirAll(*dataDir, 0o700); err != nil {
			return err
		}
		if entries, _ := os.ReadDir(*dataDir); len(entries) > 0 {
			return fmt.Errorf("--data-dir %s is not empty: the demo starts from a fresh state and a fresh fake Watcher; give it an empty or new directory", *dataDir)
		}
	} else {
		dir, err := os.MkdirTemp("", "watcherbridge-demo-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		*dataDir = dir
	}
	if *logFile == "" {
		*logFile = filepath.Join(*dataDir, "watcherbridge.log")
	}
	logOut, err := os.Create(*logFile)
	if err != nil {
		return err
	}
	defer logOut.Close()
	say := func(format string, a ...any) { fmt.Fprintf(stdout, format+"\n", a...) }

	// 1. A fresh Watcher with the organizations and presets the sample
	// inventory refers to, as an operator would prepare them.
	const apiKey = "demo-api-key"
	fake := watchertest.New(watchertest.Options{APIKey: apiKey})
	wln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	wsrv := &http.Server{Handler: fake.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go wsrv.Serve(wln)
	defer wsrv.Close()
	watcherURL := "http://" + wln.Addr().String()
	if err := prepareWatcher(ctx, watcherURL, apiKey); err != nil {
		return fmt.Errorf("prepare fake Watcher: %w", err)
	}
	say("fake Watcher on %s: organizations 2 and 3, presets 2 and 3 created", watcherURL)

	// 2. The bridge on embedded defaults, with an ingest token as in
	// production.
	token := events.RandomID()
	tokenFile := filepath.Join(*dataDir, "ingest-token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		return err
	}
	natsTokenFile := filepath.Join(*dataDir, "nats-token")
	if err := os.WriteFile(natsTokenFile, []byte(events.RandomID()+"\n"), 0o600); err != nil {
		return err
	}
	cfg := serveConfig{
		IngestTokenFile: tokenFile,
		NATSTokenFile:   natsTokenFile,
		DataDir:         *dataDir, Listen: "127.0.0.1:0", EmbeddedNATSListen: "127.0.0.1:0",
		WatcherURL: watcherURL, watcherAPIKey: apiKey, Inventory: filepath.Join(*examples, "inventory.csv"),
		Unassigned: handlers.Hold, MaxBodyBytes: 32 << 20, ShutdownTimeout: 10 * time.Second,
		Concurrency: 16, MaxAckPending: 256, AckWait: 30 * time.Second, BatchSize: 64, BatchDelay: 5 * time.Millisecond,
		MaxDeliveries: 5, DeadLetterMaxAge: time.Hour, Replicas: 1, WatcherTimeout: 5 * time.Second,
	}
	log := newLogger("json", "debug", logOut)
	bctx, stopBridge := context.WithCancel(ctx)
	defer stopBridge()
	readyCh := make(chan addrs, 1)
	done := make(chan error, 1)
	go func() { done <- serve(bctx, cfg, log, func(a addrs) { readyCh <- a }) }()
	// Whatever happens below, the bridge stops before its log file closes.
	bridgeStopped := false
	defer func() {
		if !bridgeStopped {
			stopBridge()
			<-done
		}
	}()
	var where addrs
	select {
	case where = <-readyCh:
	case err := <-done:
		bridgeStopped = true
		return fmt.Errorf("bridge did not start (log: %s): %w", *logFile, err)
	case <-time.After(60 * time.Second):
		return fmt.Errorf("bridge did not start within 60s (log: %s)", *logFile)
	}
	say("bridge up: ingest http://%s/activations, JetStream %s, state in %s", where.HTTP, redactURL(where.NATS), *dataDir)
	say("inventory %s published as camera.assigned events", cfg.Inventory)

	// 3. What must happen: every activated camera that billing sold ends
	// in its subscriber's organization with its preset; the one not sold
	// yet is held.
	want, held, err := demoExpectations(*examples)
	if err != nil {
		return err
	}

	// 4. The real push, then the same push again.
	actPath := filepath.Join(*examples, "activation.csv")
	reply, err := pushFile(ctx, "http://"+where.HTTP+"/activations", actPath, token)
	if err != nil {
		return err
	}
	say("pushed %s: accepted %d, duplicate %d, rejected %d", actPath, reply.Accepted, reply.Duplicate, reply.Rejected)
	if err := waitFor(ctx, 30*time.Second, func() error { return checkCameras(fake, want) }); err != nil {
		return fmt.Errorf("cameras did not reach Watcher as expected (log: %s): %w", *logFile, err)
	}
	before := fake.Stats()
	again, err := pushFile(ctx, "http://"+where.HTTP+"/activations", actPath, token)
	if err != nil {
		return err
	}
	say("pushed it again: accepted %d, duplicate %d", again.Accepted, again.Duplicate)
	if again.Accepted != 0 {
		return fmt.Errorf("a re-sent push was accepted as new (%d rows)", again.Accepted)
	}
	for _, serial := range held {
		if _, ok := fake.Camera(handlers.CameraName(serial)); ok {
			return fmt.Errorf("camera %s is not sold yet and must be held, but Watcher has it", serial)
		}
	}
	say("")
	printCameras(stdout, fake, want, held)

	// 5. Billing sells the held camera: it goes to Watcher at once.
	heldFile := filepath.Join(*examples, "assign-held.json")
	data, err := os.ReadFile(heldFile)
	if err != nil {
		return err
	}
	env, err := buildEnvelope(events.CameraAssigned, data, "", "", "", "urn:watcherbridge:demo")
	if err != nil {
		return fmt.Errorf("%s: %w", heldFile, err)
	}
	if err := publishOne(ctx, where.NATS, env); err != nil {
		return err
	}
	var a events.Assignment
	_ = env.DecodeData(&a)
	org, preset := int64(a.OrganizationID), int64(a.PresetID)
	want[a.AgentSerial] = watcherclient.Camera{OrganizationID: &org, PresetID: &preset, Title: a.Title}
	say("")
	say("billing assigns the held camera %s (%s)", a.AgentSerial, heldFile)
	if err := waitFor(ctx, 30*time.Second, func() error { return checkCameras(fake, want) }); err != nil {
		return fmt.Errorf("held camera was not released (log: %s): %w", *logFile, err)
	}
	after := fake.Stats()
	for serial := range want {
		name := handlers.CameraName(serial)
		if c := after.Cameras[name]; c.Created != 1 {
			return fmt.Errorf("camera %s was created %d times, want exactly once", name, c.Created)
		}
		if serial != a.AgentSerial && after.Cameras[name] != before.Cameras[name] {
			return fmt.Errorf("camera %s was written again by a re-sent push", name)
		}
	}
	say("")
	printCameras(stdout, fake, want, nil)
	say("")
	say("OK: %d cameras in Watcher, each created exactly once; the re-sent push changed nothing.", len(want))
	stopBridge()
	bridgeStopped = true
	if err := <-done; err != nil {
		return fmt.Errorf("bridge shutdown: %w", err)
	}
	return nil
}

func prepareWatcher(ctx context.Context, url, key string) error {
	wc, err := watcherclient.New(watcherclient.Config{BaseURL: url, APIKey: key})
	if err != nil {
		return err
	}
	for i, title := range []string{"Ivanova (SUB-1001)", "Petrov shop (SUB-1002)"} {
		o, err := wc.CreateOrganization(ctx, watcherclient.Organization{Title: title})
		if err != nil {
			return err
		}
		if o.ID != int64(i+2) {
			return fmt.Errorf("organization %q got id %d, the sample inventory expects %d", title, o.ID, i+2)
		}
	}
	no := false
	for i, p := range []struct {
		title string
		days  float64
	}{{"Basic: 7 days archive", 7}, {"Premium: 30 days archive", 30}} {
		days := p.days
		got, err := wc.CreatePreset(ctx, watcherclient.Preset{Title: p.title, DVRDepth: &days, IsAdjustable: &no})
		if err != nil {
			return err
		}
		if got.ID != int64(i+2) {
			return fmt.Errorf("preset %q got id %d, the sample inventory expects %d", p.title, got.ID, i+2)
		}
	}
	return nil
}

// demoExpectations reads the sample files: want maps each activated and
// sold serial to the owner fields Watcher must show; held lists activated
// serials billing has not sold.
func demoExpectations(dir string) (want map[string]watcherclient.Camera, held []string, err error) {
	inv, err := os.Open(filepath.Join(dir, "inventory.csv"))
	if err != nil {
		return nil, nil, err
	}
	defer inv.Close()
	rows, bad, err := events.ParseInventory(inv)
	if err != nil || len(bad) > 0 {
		return nil, nil, fmt.Errorf("sample inventory: %v %v", err, bad)
	}
	sold := map[string]events.Assignment{}
	for _, r := range rows {
		sold[r.Assignment.AgentSerial] = r.Assignment
	}
	act, err := os.ReadFile(filepath.Join(dir, "activation.csv"))
	if err != nil {
		return nil, nil, err
	}
	res, err := activation.Parse(bytes.NewReader(act), "text/csv", activation.Limits{})
	if err != nil {
		return nil, nil, err
	}
	want = map[string]watcherclient.Camera{}
	for _, p := range res.Rows {
		a, ok := sold[p.Row.AgentSerial]
		if !ok {
			held = append(held, p.Row.AgentSerial)
			continue
		}
		org, preset := int64(a.OrganizationID), int64(a.PresetID)
		want[p.Row.AgentSerial] = watcherclient.Camera{OrganizationID: &org, PresetID: &preset, Title: a.Title}
	}
	return want, held, nil
}

func checkCameras(fake *watchertest.Server, want map[string]watcherclient.Camera) error {
	var missing []string
	for serial, w := range want {
		c, ok := fake.Camera(handlers.CameraName(serial))
		switch {
		case !ok:
			missing = append(missing, serial+" (absent)")
		case c.OrganizationID == nil || *c.OrganizationID != *w.OrganizationID:
			missing = append(missing, serial+" (wrong organization)")
		case c.PresetID == nil || *c.PresetID != *w.PresetID:
			missing = append(missing, serial+" (wrong preset)")
		case c.Title != w.Title:
			missing = append(missing, serial+" (wrong title)")
		case c.AgentSerial != serial:
			missing = append(missing, serial+" (wrong agent_serial)")
		}
	}
	if len(missing) > 0 {
		return errors.New(strings.Join(missing, ", "))
	}
	return nil
}

func printCameras(w io.Writer, fake *watchertest.Server, want map[string]watcherclient.Camera, held []string) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SERIAL\tWATCHER NAME\tORGANIZATION\tPRESET\tTITLE\tCREATED\tUPDATED")
	stats := fake.Stats()
	for _, c := range fake.Cameras() {
		org, preset := "-", "-"
		if c.OrganizationID != nil {
			org = fmt.Sprint(*c.OrganizationID)
		}
		if c.PresetID != nil {
			preset = fmt.Sprint(*c.PresetID)
		}
		st := stats.Cameras[c.Name]
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\n", c.AgentSerial, c.Name, org, preset, c.Title, st.Created, st.Updated)
	}
	for _, s := range held {
		fmt.Fprintf(tw, "%s\t(held: not sold yet)\t-\t-\t-\t0\t0\n", s)
	}
	tw.Flush()
}

func pushFile(ctx context.Context, url, path, token string) (handlers.IngestReply, error) {
	var reply handlers.IngestReply
	body, err := os.ReadFile(path)
	if err != nil {
		return reply, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return reply, err
	}
	req.Header.Set("Content-Type", "text/csv")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return reply, fmt.Errorf("push %s: %w", path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return reply, fmt.Errorf("push %s: HTTP %d: %s", path, resp.StatusCode, raw)
	}
	return reply, json.Unmarshal(raw, &reply)
}

func publishOne(ctx context.Context, natsURL string, env events.Envelope) error {
	nc, err := dialNATS(natsURL, "watcherbridge-demo")
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	_, err = events.NewPublisher(js, 0).PublishEnvelope(ctx, env)
	return err
}

// waitFor polls cond until it returns nil or the deadline passes.
func waitFor(ctx context.Context, d time.Duration, cond func() error) error {
	deadline := time.Now().Add(d)
	for {
		err := cond()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}
