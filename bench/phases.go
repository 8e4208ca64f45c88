package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/watcherbridge/watcherbridge/events"
	"github.com/watcherbridge/watcherbridge/events/activation"
	"github.com/watcherbridge/watcherbridge/handlers"
	"github.com/watcherbridge/watcherbridge/store"
	"github.com/watcherbridge/watcherbridge/watcherclient"
)

// row is camera i of a batch: every field a real activation carries, and an
// abonent_sign, so that every camera is assigned and goes to Watcher.
func row(tag string, i int) activation.Row {
	ptz := i%3 == 0
	ip := fmt.Sprintf("10.%d.%d.%d", 20+i/65536, i/256%256, i%256)
	return activation.Row{
		AgentSerial:  fmt.Sprintf("BENCH-%s-%07d", tag, i),
		AgentID:      fmt.Sprintf("ag-%s-%07d", tag, i),
		AgentKey:     fmt.Sprintf("ak-bench-%s-%07d", tag, i),
		AgentModel:   "IRIS A100",
		StreamURL:    "rtsp://" + ip + ":554/main",
		SubstreamURL: "rtsp://" + ip + ":554/sub",
		Thumbnails:   "http://" + ip + "/snap.jpg",
		OnvifURL:     "http://" + ip + "/onvif/device_service",
		OnvifProfile: "Profile_1",
		PTZ:          &ptz,
		AbonentSign:  strconv.Itoa(7_000_000_000 + i),
	}
}

// activationMessages are n camera.activated events exactly as ingest
// publishes them (handlers/ingest.go): content-derived ids, one nanosecond
// apart, source urn:watcherbridge:ingest.
func activationMessages(tag string, n int, now time.Time) []events.Outgoing {
	msgs := make([]events.Outgoing, 0, n)
	for i := range n {
		r := row(tag, i)
		id := r.ID()
		env, err := events.NewEnvelope(events.CameraActivated, id, r.AgentSerial, now.Add(time.Duration(i)), r)
		if err != nil {
			panic(err) // the rows above are valid by construction
		}
		env.Source = events.DefaultSource + ":ingest"
		data, err := env.Encode()
		if err != nil {
			panic(err)
		}
		msgs = append(msgs, events.Outgoing{Subject: events.CameraActivated, ID: id, Data: data})
	}
	return msgs
}

// startJetStream runs a JetStream server on dataDir with the options of the
// bridge's embedded server (cmd/watcherbridge/embedded.go): same store
// directory, file storage, SyncAlways.
func startJetStream(dataDir string) (*server.Server, *nats.Conn, jetstream.JetStream, error) {
	ns, err := server.NewServer(&server.Options{
		ServerName:      "watcherbridge-embedded",
		Host:            "127.0.0.1",
		Port:            server.RANDOM_PORT,
		JetStream:       true,
		StoreDir:        filepath.Join(dataDir, "jetstream"),
		SyncAlways:      true,
		JetStreamLimits: server.JSLimitOpts{MaxBatchSize: events.EmbeddedMaxBatch},
		NoSigs:          true,
		NoLog:           true,
	})
	if err != nil {
		return nil, nil, nil, err
	}
	go ns.Start()
	if !ns.ReadyForConnections(30 * time.Second) {
		ns.Shutdown()
		return nil, nil, nil, errors.New("embedded NATS did not start")
	}
	nc, err := nats.Connect(ns.ClientURL(), nats.Name("bench"))
	if err != nil {
		ns.Shutdown()
		return nil, nil, nil, err
	}
	js, err := jetstream.New(nc, events.JetStreamOptions()...)
	if err != nil {
		nc.Close()
		ns.Shutdown()
		return nil, nil, nil, err
	}
	return ns, nc, js, nil
}

func stopJetStream(ns *server.Server, nc *nats.Conn) {
	nc.Close()
	ns.Shutdown()
	ns.WaitForShutdown()
}

// ceiling publishes msgs to a fresh store in b.dataDir (which the bridge
// then starts on) and consumes them once with a pull consumer, acking each.
func (b *bench) ceiling(ctx context.Context, msgs []events.Outgoing) error {
	ns, nc, js, err := startJetStream(b.dataDir)
	if err != nil {
		return err
	}
	defer stopJetStream(ns, nc)
	for _, sc := range []jetstream.StreamConfig{events.StreamConfig(1), events.DeadLetterStreamConfig(1, 30*24*time.Hour)} {
		if _, err := js.CreateStream(ctx, sc); err != nil {
			return err
		}
	}
	pub := events.NewPublisher(js, events.EmbeddedMaxBatch)
	t0 := time.Now()
	dups, err := pub.PublishAll(ctx, msgs)
	if err != nil {
		return err
	}
	pubSec := time.Since(t0).Seconds()
	if i := slices.Index(dups, true); i >= 0 {
		return fmt.Errorf("message %d was a duplicate", i)
	}

	stream, err := js.Stream(ctx, events.Stream)
	if err != nil {
		return err
	}
	const name = "bench_ceiling"
	cons, err := stream.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable:       name,
		FilterSubject: events.CameraActivated,
		AckPolicy:     jetstream.AckExplicitPolicy,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		MaxAckPending: 4096, // the bridge's --max-ack-pending
	})
	if err != nil {
		return err
	}
	t0 = time.Now()
	it, err := cons.Messages(jetstream.PullMaxMessages(1024)) // the bridge's --concurrency
	if err != nil {
		return err
	}
	for range len(msgs) {
		m, err := it.Next()
		if err != nil {
			it.Stop()
			return err
		}
		if err := m.Ack(); err != nil {
			it.Stop()
			return err
		}
	}
	it.Stop()
	if err := waitAcked(ctx, cons); err != nil {
		return err
	}
	conSec := time.Since(t0).Seconds()
	if err := stream.DeleteConsumer(ctx, name); err != nil {
		return err
	}
	b.res.Ceiling = ceilingResult{
		Events:        len(msgs),
		PublishSec:    pubSec,
		PublishPerSec: float64(len(msgs)) / pubSec,
		ConsumeSec:    conSec,
		ConsumePerSec: float64(len(msgs)) / conSec,
	}
	return nil
}

// waitAcked waits until the server has every ack of cons.
func waitAcked(ctx context.Context, cons jetstream.Consumer) error {
	deadline := time.Now().Add(time.Minute)
	for {
		info, err := cons.Info(ctx)
		if err != nil {
			return err
		}
		if info.NumAckPending == 0 && info.NumPending == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("acks: %w", errTimeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitDrained waits until the bridge's camera.activated consumer has acked
// every message on the subject, which the bridge does only once Watcher
// accepted the camera and the store committed. It returns when that was
// seen.
func waitDrained(ctx context.Context, p *bridgeProc, limit time.Duration) (time.Time, error) {
	nc, err := nats.Connect(p.natsURL, nats.Name("bench-observer"))
	if err != nil {
		return time.Time{}, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return time.Time{}, err
	}
	stream, err := js.Stream(ctx, events.Stream)
	if err != nil {
		return time.Time{}, err
	}
	last, err := stream.GetLastMsgForSubject(ctx, events.CameraActivated)
	if err != nil {
		return time.Time{}, err
	}
	deadline := time.Now().Add(limit)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	var lastErr error
	for {
		select {
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case <-p.exited:
			return time.Time{}, fmt.Errorf("bridge exited: %v\n%s", p.waitErr, p.lastLines())
		case <-tick.C:
		}
		var info *jetstream.ConsumerInfo
		cons, err := stream.Consumer(ctx, events.ConsumerName(events.CameraActivated))
		if err == nil {
			info, err = cons.Info(ctx)
		}
		if err == nil && info.NumAckPending == 0 && info.AckFloor.Stream >= last.Sequence {
			return time.Now(), nil
		}
		lastErr = err
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("bridge did not ack every event within %s: %w (last error: %v)\n%s", limit, errTimeout, lastErr, p.lastLines())
		}
	}
}

// endToEnd starts the bridge on the events the ceiling left on the stream
// and waits until Watcher holds every camera.
func (b *bench) endToEnd(ctx context.Context, w *fakeWatcher, n int) error {
	before := w.fw.Stats()
	var env []string
	var profile string
	if b.cfg.CPUProfile != "" {
		profile = filepath.Join(b.scratch, "e2e.pprof")
		env = append(env, profileEnv+"="+profile)
		if b.cfg.Trace != "" {
			env = append(env, traceEnv+"="+b.cfg.Trace)
		}
	}
	p, err := b.startBridge(ctx, w, "e2e", env...)
	if err != nil {
		return err
	}
	done, err := waitDrained(ctx, p, 10*time.Minute)
	if err != nil {
		_ = p.stop()
		return err
	}
	rss := p.peakRSS()
	if profile != "" {
		if err := stopProfile(p, profile, b.cfg.CPUProfile); err != nil {
			_ = p.stop()
			return err
		}
	}
	if err := p.stop(); err != nil {
		return err
	}
	after := w.fw.Stats()
	held := len(w.fw.Cameras())
	twice := 0
	for _, cs := range after.Cameras {
		if cs.Created > 1 {
			twice++
		}
	}
	if held != n {
		return fmt.Errorf("Watcher holds %d cameras, want %d", held, n)
	}
	fi, err := os.Stat(filepath.Join(b.dataDir, "watcherbridge.db"))
	if err != nil {
		return err
	}
	secs := done.Sub(p.started).Seconds()
	b.res.EndToEnd = endToEndResult{
		Events:         n,
		Seconds:        secs,
		PerSec:         float64(n) / secs,
		StartupSec:     p.readyAt.Sub(p.started).Seconds(),
		WatcherCalls:   after.Requests - before.Requests,
		ImportCalls:    after.Endpoints["POST /cameras/import"] - before.Endpoints["POST /cameras/import"],
		CamerasHeld:    held,
		CreatedTwice:   twice,
		PeakRSSMB:      rss,
		BboltBytes:     fi.Size(),
		BboltPerCamera: float64(fi.Size()) / float64(n),
	}
	return nil
}

// replay deletes the bridge's durable consumers (the stream and the bbolt
// file stay), restarts the bridge, which recreates them with DeliverAll,
// and waits until it acked every event again. The bridge is left running.
func (b *bench) replay(ctx context.Context, w *fakeWatcher, n int) (*bridgeProc, error) {
	ns, nc, js, err := startJetStream(b.dataDir)
	if err != nil {
		return nil, err
	}
	stream, err := js.Stream(ctx, events.Stream)
	if err == nil {
		for _, topic := range events.Topics() {
			if err = stream.DeleteConsumer(ctx, events.ConsumerName(topic)); err != nil {
				break
			}
		}
	}
	stopJetStream(ns, nc)
	if err != nil {
		return nil, fmt.Errorf("reset consumers: %w", err)
	}
	before := w.fw.Stats()
	p, err := b.startBridge(ctx, w, "replay")
	if err != nil {
		return nil, err
	}
	done, err := waitDrained(ctx, p, 10*time.Minute)
	if err != nil {
		_ = p.stop()
		return nil, err
	}
	after := w.fw.Stats()
	secs := done.Sub(p.started).Seconds()
	b.res.Replay = replayResult{
		Events:       n,
		Seconds:      secs,
		PerSec:       float64(n) / secs,
		StartupSec:   p.readyAt.Sub(p.started).Seconds(),
		WatcherCalls: after.Requests - before.Requests,
		PeakRSSMB:    p.peakRSS(),
	}
	return p, nil
}

// ingest POSTs pushes of fresh cameras to the running bridge, alternating
// CSV and JSON, and times each from request start to the 200. The bridge
// applies earlier pushes while later ones arrive, as it would in service.
func (b *bench) ingest(ctx context.Context, p *bridgeProc) error {
	client := &http.Client{Timeout: time.Minute}
	var csvLat, jsonLat []float64
	for i := range b.cfg.IngestPushes {
		for _, format := range []string{"csv", "json"} {
			tag := fmt.Sprintf("ING%s%d", format, i)
			body, ctype, err := pushBody(tag, b.cfg.IngestRows, format)
			if err != nil {
				return err
			}
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+p.httpAddr+"/activations", bytes.NewReader(body))
			if err != nil {
				return err
			}
			req.Header.Set("Content-Type", ctype)
			req.Header.Set("Authorization", "Bearer "+ingestToken)
			t0 := time.Now()
			resp, err := client.Do(req)
			if err != nil {
				return err
			}
			var reply handlers.IngestReply
			err = json.NewDecoder(resp.Body).Decode(&reply)
			resp.Body.Close()
			lat := time.Since(t0)
			if resp.StatusCode != http.StatusOK || err != nil {
				return fmt.Errorf("%s push: HTTP %d (%v)", format, resp.StatusCode, err)
			}
			if reply.Accepted != b.cfg.IngestRows {
				return fmt.Errorf("%s push: %d rows accepted, want %d (%+v)", format, reply.Accepted, b.cfg.IngestRows, reply)
			}
			ms := float64(lat.Microseconds()) / 1000
			if format == "csv" {
				csvLat = append(csvLat, ms)
			} else {
				jsonLat = append(jsonLat, ms)
			}
		}
	}
	b.res.Ingest = ingestResult{CSV: summarize(csvLat, b.cfg.IngestRows), JSON: summarize(jsonLat, b.cfg.IngestRows)}
	// Let the bridge apply what was pushed before it is stopped, so the
	// pushes are checked to have gone through too.
	_, err := waitDrained(ctx, p, 5*time.Minute)
	return err
}

func pushBody(tag string, n int, format string) (body []byte, contentType string, err error) {
	rows := make([]activation.Row, n)
	for i := range rows {
		rows[i] = row(tag, i)
	}
	if format == "json" {
		body, err = json.Marshal(rows)
		return body, "application/json", err
	}
	var buf bytes.Buffer
	cw := csv.NewWriter(&buf)
	_ = cw.Write([]string{"agent_model", "agent_serial", "agent_id", "agent_key", "stream_url", "substream_url", "thumbnails", "onvif_url", "onvif_profile", "can_ptz", "abonent_sign"})
	for _, r := range rows {
		ptz := "0"
		if *r.PTZ {
			ptz = "1"
		}
		_ = cw.Write([]string{r.AgentModel, r.AgentSerial, r.AgentID, r.AgentKey, r.StreamURL, r.SubstreamURL, r.Thumbnails, r.OnvifURL, r.OnvifProfile, ptz, r.AbonentSign})
	}
	cw.Flush()
	return buf.Bytes(), "text/csv", cw.Error()
}

func summarize(latMS []float64, rows int) pushStats {
	s := pushStats{Pushes: len(latMS), Rows: rows, LatencyMS: latMS}
	if len(latMS) == 0 {
		return s
	}
	sorted := slices.Sorted(slices.Values(latMS))
	s.MedianLatencyMS = sorted[len(sorted)/2]
	s.MedianRowsPerSec = float64(rows) / (s.MedianLatencyMS / 1000)
	s.MinRowsPerSec = float64(rows) / (sorted[len(sorted)-1] / 1000)
	return s
}

// naive is the hand-written integration the bridge is compared with: for
// each event in turn, decode it, merge it into its bbolt record in its own
// update (one fsync), POST /cameras to Watcher, and ack. It reads the same
// stream, from the same server settings, into a fresh fake Watcher.
func (b *bench) naive(ctx context.Context) error {
	ns, nc, js, err := startJetStream(b.dataDir)
	if err != nil {
		return err
	}
	defer stopJetStream(ns, nc)
	w, err := startWatcher(b.scratch)
	if err != nil {
		return err
	}
	defer w.close()
	wc, err := watcherclient.New(watcherclient.Config{BaseURL: w.url, APIKey: watcherKey, Timeout: 15 * time.Second})
	if err != nil {
		return err
	}
	db, err := store.Open(filepath.Join(b.scratch, "naive.db"), store.Options{LockTimeout: 5 * time.Second})
	if err != nil {
		return err
	}
	defer db.Close()
	stream, err := js.Stream(ctx, events.Stream)
	if err != nil {
		return err
	}
	const name = "bench_naive"
	cons, err := stream.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable:       name,
		FilterSubject: events.CameraActivated,
		AckPolicy:     jetstream.AckExplicitPolicy,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return err
	}
	defer func() { _ = stream.DeleteConsumer(context.WithoutCancel(ctx), name) }()
	n := b.cfg.NaiveEvents
	t0 := time.Now()
	it, err := cons.Messages()
	if err != nil {
		return err
	}
	defer it.Stop()
	for range n {
		m, err := it.Next()
		if err != nil {
			return err
		}
		if err := naiveHandle(ctx, db, wc, m); err != nil {
			return err
		}
		if err := m.Ack(); err != nil {
			return err
		}
	}
	secs := time.Since(t0).Seconds()
	b.res.Naive = naiveResult{Events: n, Seconds: secs, PerSec: float64(n) / secs, Calls: w.fw.Stats().Requests}
	if held := len(w.fw.Cameras()); held != n {
		return fmt.Errorf("Watcher holds %d cameras, want %d", held, n)
	}
	return nil
}

func naiveHandle(ctx context.Context, db *store.DB, wc *watcherclient.Client, m jetstream.Msg) error {
	env, err := events.Decode(m.Data(), func(k string) string { return m.Headers().Get(k) })
	if err != nil {
		return err
	}
	var r activation.Row
	if err := env.DecodeData(&r); err != nil {
		return err
	}
	var rec store.Camera
	err = db.Update(func(tx *store.Tx) error {
		if tx.Seen(env.ID) {
			return nil
		}
		cur, ok, err := tx.Camera(r.AgentSerial)
		if err != nil {
			return err
		}
		if !ok {
			cur = store.Camera{Serial: r.AgentSerial}
		}
		cur.Activation = &store.Activation{Row: r, EventID: env.ID, Time: env.Time}
		rec = cur
		if err := tx.MarkSeen(env.ID, time.Now()); err != nil {
			return err
		}
		return tx.PutCamera(cur)
	})
	if err != nil {
		return err
	}
	cam, ok := handlers.Desired(rec, handlers.Hold)
	if !ok {
		return nil
	}
	_, err = wc.CreateCamera(ctx, cam)
	return err
}

// profileEnv names the file the profiling build of the bridge writes its
// CPU profile to (see profile.go).
const profileEnv = "BENCH_CPUPROFILE"

// stopProfile asks the profiling bridge to stop its CPU profile and copies
// it to dst.
func stopProfile(p *bridgeProc, path, dst string) error {
	if err := p.cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		return err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(path + ".done"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("CPU profile: %w", errTimeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, data, 0o644)
}
