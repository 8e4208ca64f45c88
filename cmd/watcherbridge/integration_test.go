package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/watcherbridge/watcherbridge/events"
	"github.com/watcherbridge/watcherbridge/events/activation"
	"github.com/watcherbridge/watcherbridge/handlers"
	"github.com/watcherbridge/watcherbridge/watcherclient"
	"github.com/watcherbridge/watcherbridge/watcherclient/watchertest"
)

// startSample runs the demo's setup: a prepared fake, a bridge with the
// sample inventory, and one push of the sample activation file that has
// converged in Watcher.
func startSample(t *testing.T) (*watchertest.Server, *bridge, handlers.IngestReply) {
	t.Helper()
	fake, url := fakeWatcher(t, true)
	cfg := testConfig(t, url)
	cfg.Inventory = filepath.Join(examplesDir, "inventory.csv")
	b := startBridge(t, cfg, "sample")
	reply := push(t, b, "text/csv", readFile(t, filepath.Join(examplesDir, "activation.csv")))
	want, _ := sampleWant(t)
	eventually(t, settle, "sample cameras in Watcher", func() error { return checkCameras(fake, want) })
	return fake, b, reply
}

func TestSamplePushReachesWatcher(t *testing.T) {
	integration(t)
	fake, b, reply := startSample(t)

	if reply.Accepted != 4 || reply.Duplicate != 0 || reply.Rejected != 0 {
		t.Errorf("reply = accepted %d, duplicate %d, rejected %d; want 4, 0, 0", reply.Accepted, reply.Duplicate, reply.Rejected)
	}
	want, held := sampleWant(t)
	if len(want) != 3 || !slices.Equal(held, []string{"IRIS-B200-0004"}) {
		t.Fatalf("sample files changed: sold %v, held %v", keys(want), held)
	}
	// Everything published so far is handled, so a held camera that was
	// going to be sent would be in Watcher by now.
	waitIdle(t, jsClient(t, b.NATS))
	if err := checkCameras(fake, want); err != nil {
		t.Errorf("sold cameras: %v", err)
	}
	for _, serial := range held {
		if _, ok := fake.Camera(handlers.CameraName(serial)); ok {
			t.Errorf("camera %s is not sold yet and must be held, but Watcher has it", serial)
		}
	}
	if got := len(fake.Cameras()); got != len(want) {
		t.Errorf("Watcher holds %d cameras, want %d", got, len(want))
	}
	stats := fake.Stats()
	for _, name := range cameraNames(keys(want)) {
		if c := stats.Cameras[name]; c.Created != 1 || c.Updated != 0 {
			t.Errorf("camera %s: created %d, updated %d; want 1, 0", name, c.Created, c.Updated)
		}
	}
	b.stop(t)
}

func TestRepeatedPushChangesNothing(t *testing.T) {
	integration(t)
	fake, b, _ := startSample(t)
	js := jsClient(t, b.NATS)
	waitIdle(t, js)
	before := fake.Stats()

	csvBody := readFile(t, filepath.Join(examplesDir, "activation.csv"))
	parsed, err := activation.Parse(bytes.NewReader(csvBody), "text/csv", activation.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	var rows []activation.Row
	for _, p := range parsed.Rows {
		rows = append(rows, p.Row)
	}
	jsonBody, err := json.Marshal(rows)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name        string
		contentType string
		give        []byte
	}{
		{name: "same CSV", contentType: "text/csv", give: csvBody},
		{name: "same rows as JSON", contentType: "application/json", give: jsonBody},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reply := push(t, b, tt.contentType, tt.give)
			if reply.Accepted != 0 || reply.Duplicate != 4 || reply.Rejected != 0 {
				t.Errorf("reply = accepted %d, duplicate %d, rejected %d; want 0, 4, 0", reply.Accepted, reply.Duplicate, reply.Rejected)
			}
		})
	}

	// Sentinel: billing sells the held camera. Once it is in Watcher and
	// both consumers are idle, any write caused by the repeated pushes
	// would have happened.
	var held events.Assignment
	if err := json.Unmarshal(readFile(t, filepath.Join(examplesDir, "assign-held.json")), &held); err != nil {
		t.Fatal(err)
	}
	assign(t, b.NATS, held, time.Now())
	eventually(t, settle, "sentinel camera in Watcher", hasCamera(fake, held.AgentSerial,
		ownerIs(int64(held.OrganizationID), int64(held.PresetID), held.Title)))
	waitIdle(t, js)

	after := fake.Stats()
	want, _ := sampleWant(t)
	for _, name := range cameraNames(keys(want)) {
		if after.Cameras[name] != before.Cameras[name] {
			t.Errorf("camera %s: stats %+v after the repeated push, %+v before", name, after.Cameras[name], before.Cameras[name])
		}
	}
	if got := after.Writes - before.Writes; got != 1 {
		t.Errorf("Watcher saw %d writes after convergence, want 1 (the sentinel)", got)
	}
	if c := after.Cameras[handlers.CameraName(held.AgentSerial)]; c.Created != 1 || c.Updated != 0 {
		t.Errorf("sentinel camera: created %d, updated %d; want 1, 0", c.Created, c.Updated)
	}
	if err := checkCameras(fake, want); err != nil {
		t.Errorf("sold cameras changed: %v", err)
	}
	b.stop(t)
}

// comparable fields of a Watcher camera, as the bridge owns them.
type cameraView struct {
	Name, Title, AgentID, StreamURL string
	Org, Preset                     string
}

func viewOf(c watcherclient.Camera) cameraView {
	return cameraView{Name: c.Name, Title: c.Title, AgentID: c.AgentID, StreamURL: c.StreamURL,
		Org: fmtPtr(c.OrganizationID), Preset: fmtPtr(c.PresetID)}
}

func TestAssignmentOrderDoesNotMatter(t *testing.T) {
	integration(t)
	activations := readFile(t, filepath.Join(examplesDir, "activation.csv"))
	assignments := sampleAssignments(t)
	want, _ := sampleWant(t)
	billingTime := time.Now().Add(-time.Minute)

	tests := []struct {
		name string
		give func(t *testing.T, b *bridge, fake *watchertest.Server, js jetstream.JetStream)
	}{
		{name: "assigned then activated", give: func(t *testing.T, b *bridge, _ *watchertest.Server, js jetstream.JetStream) {
			for _, a := range assignments {
				assign(t, b.NATS, a, billingTime)
			}
			waitIdle(t, js)
			push(t, b, "text/csv", activations)
		}},
		{name: "activated then assigned", give: func(t *testing.T, b *bridge, fake *watchertest.Server, js jetstream.JetStream) {
			push(t, b, "text/csv", activations)
			waitIdle(t, js)
			if n := len(fake.Cameras()); n != 0 {
				t.Fatalf("Watcher holds %d cameras before billing assigned any, want 0 (hold)", n)
			}
			for _, a := range assignments {
				assign(t, b.NATS, a, billingTime)
			}
		}},
	}
	var results [][]cameraView
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake, url := fakeWatcher(t, true)
			b := startBridge(t, testConfig(t, url), tt.name)
			js := jsClient(t, b.NATS)
			tt.give(t, b, fake, js)
			eventually(t, settle, "cameras in Watcher", func() error { return checkCameras(fake, want) })
			waitIdle(t, js)
			var got []cameraView
			for _, c := range fake.Cameras() {
				got = append(got, viewOf(c))
			}
			results = append(results, got)
			camerasCreatedOnce(t, fake, cameraNames(keys(want)))
			if len(got) != len(want) {
				t.Errorf("Watcher holds %d cameras, want %d", len(got), len(want))
			}
			b.stop(t)
		})
	}
	if len(results) == 2 && !slices.Equal(results[0], results[1]) {
		t.Errorf("final cameras differ:\n%s: %+v\n%s: %+v", tests[0].name, results[0], tests[1].name, results[1])
	}
}

func TestCameraHandedToNewSubscriber(t *testing.T) {
	integration(t)
	fake, url := fakeWatcher(t, true)
	b := startBridge(t, testConfig(t, url), "handover")
	const serial = "IRIS-A100-0001"
	const header = "agent_model,agent_serial,agent_id,agent_key,stream_url\n"
	t0 := time.Now().Add(-time.Hour)

	assign(t, b.NATS, events.Assignment{AgentSerial: serial, OrganizationID: 2, PresetID: 2, SubscriberID: "SUB-1001", Title: "Ivanova: front door"}, t0)
	push(t, b, "text/csv", []byte(header+"IRIS A100,"+serial+",ag-7f3a01,ak-old,rtsp://10.20.0.11:554/main\n"))
	eventually(t, settle, "camera with subscriber A", hasCamera(fake, serial, func(c watcherclient.Camera) error {
		if c.AgentID != "ag-7f3a01" {
			return fmt.Errorf("agent_id %q", c.AgentID)
		}
		return ownerIs(2, 2, "Ivanova: front door")(c)
	}))

	// The camera is resold: reactivated with a new agent and assigned to
	// subscriber B later than A.
	push(t, b, "text/csv", []byte(header+"IRIS A100,"+serial+",ag-new-b,ak-new,rtsp://10.20.0.11:554/main\n"))
	assign(t, b.NATS, events.Assignment{AgentSerial: serial, OrganizationID: 3, PresetID: 3, SubscriberID: "SUB-1002", Title: "Petrov shop: back office"}, time.Now())
	eventually(t, settle, "camera handed to subscriber B", hasCamera(fake, serial, func(c watcherclient.Camera) error {
		if c.AgentID != "ag-new-b" {
			return fmt.Errorf("agent_id %q, want ag-new-b", c.AgentID)
		}
		return ownerIs(3, 3, "Petrov shop: back office")(c)
	}))
	waitIdle(t, jsClient(t, b.NATS))

	name := handlers.CameraName(serial)
	if cams := fake.Cameras(); len(cams) != 1 || cams[0].Name != name {
		t.Errorf("Watcher holds %d cameras, want only %s", len(cams), name)
	}
	if c := fake.Stats().Cameras[name]; c.Created != 1 || c.Updated < 1 {
		t.Errorf("camera %s: created %d, updated %d; want created 1 and updated at least once", name, c.Created, c.Updated)
	}
	b.stop(t)
}

func TestUnassignedDefault(t *testing.T) {
	integration(t)
	fake, url := fakeWatcher(t, false)
	cfg := testConfig(t, url)
	cfg.Unassigned = handlers.Default
	b := startBridge(t, cfg, "default")
	const serial = "IRIS-B200-0004"
	reply := push(t, b, "text/csv", []byte("agent_model,agent_serial,agent_id,agent_key,stream_url\nIRIS B200,"+serial+",ag-9c1d04,ak-x,rtsp://10.20.1.4:554/main\n"))
	if reply.Accepted != 1 {
		t.Fatalf("accepted %d, want 1", reply.Accepted)
	}
	// No assignment ever comes: the camera goes to Watcher's defaults.
	eventually(t, settle, "unassigned camera in Watcher", hasCamera(fake, serial, ownerIs(1, 1, "IRIS B200 "+serial)))
	waitIdle(t, jsClient(t, b.NATS))
	camerasCreatedOnce(t, fake, cameraNames([]string{serial}))
	if c := fake.Stats().Cameras[handlers.CameraName(serial)]; c.Updated != 0 {
		t.Errorf("camera updated %d times, want 0", c.Updated)
	}
	b.stop(t)
}

func TestIngestRejectsBadRowsButKeepsGood(t *testing.T) {
	integration(t)
	fake, url := fakeWatcher(t, false)
	cfg := testConfig(t, url)
	cfg.Unassigned = handlers.Default
	cfg.MaxBodyBytes = 64 << 10
	b := startBridge(t, cfg, "ingest")
	js := jsClient(t, b.NATS)

	const good = "GOOD-0001"
	body := "agent_model,agent_serial,agent_id,agent_key,stream_url\n" +
		"IRIS A100,,ag-bad,ak-secret-bad,rtsp://10.0.0.1:554/main\n" +
		"IRIS A100," + good + ",ag-good,ak-good,rtsp://10.0.0.2:554/main\n"
	reply := push(t, b, "text/csv", []byte(body))
	if reply.Accepted != 1 || reply.Rejected != 1 || len(reply.RejectedRows) != 1 {
		t.Fatalf("reply = accepted %d, rejected %d, rows %+v; want 1, 1 and one rejected row", reply.Accepted, reply.Rejected, reply.RejectedRows)
	}
	if rr := reply.RejectedRows[0]; rr.Row != 1 || !strings.Contains(rr.Reason, "agent_serial") {
		t.Errorf("rejected row = %+v, want row 1 with a reason naming agent_serial", rr)
	}

	msg, err := lastDeadLetter(t.Context(), js, events.RejectedSubject)
	if err != nil {
		t.Fatalf("rejected row not stored on %s: %v", events.RejectedSubject, err)
	}
	var rec struct {
		Row    int    `json:"row"`
		Raw    string `json:"raw"`
		Reason string `json:"reason"`
	}
	if err := json.Unmarshal(msg.Data, &rec); err != nil {
		t.Fatalf("stored rejected row %s: %v", msg.Data, err)
	}
	if rec.Row != 1 || !strings.Contains(rec.Reason, "agent_serial") || !strings.Contains(rec.Raw, "ag-bad") {
		t.Errorf("stored rejected row = %+v, want row 1, the raw row and a reason naming agent_serial", rec)
	}
	if strings.Contains(string(msg.Data), "ak-secret-bad") {
		t.Errorf("stored rejected row leaks agent_key: %s", msg.Data)
	}

	eventually(t, settle, "good camera in Watcher", hasCamera(fake, good, nil))
	waitIdle(t, js)
	if n := len(fake.Cameras()); n != 1 {
		t.Errorf("Watcher holds %d cameras, want 1", n)
	}
	camerasCreatedOnce(t, fake, cameraNames([]string{good}))

	tests := []struct {
		name        string
		method      string
		contentType string
		give        []byte
		want        int
	}{
		{name: "body over max-body-bytes", method: http.MethodPost, contentType: "text/csv",
			give: []byte("agent_serial,agent_id\n" + strings.Repeat("X-0001,ag-1\n", int(cfg.MaxBodyBytes)/12+10)), want: http.StatusRequestEntityTooLarge},
		{name: "GET", method: http.MethodGet, want: http.StatusMethodNotAllowed},
		{name: "JSON type, body not JSON", method: http.MethodPost, contentType: "application/json",
			give: []byte("this is neither CSV nor JSON"), want: http.StatusBadRequest},
		{name: "binary without a header", method: http.MethodPost, contentType: "application/octet-stream",
			give: []byte("\x00\x01\x02\xff\xfe garbage"), want: http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := doHTTP(t, tt.method, b.url("/activations"), tt.contentType, tt.give)
			if r.Status != tt.want {
				t.Errorf("HTTP %d (%s), want %d", r.Status, r.Body, tt.want)
			}
		})
	}
	// None of the refused requests reached Watcher.
	waitIdle(t, js)
	if n := len(fake.Cameras()); n != 1 {
		t.Errorf("Watcher holds %d cameras after the refused requests, want 1", n)
	}
	b.stop(t)
}

// startNATS runs a JetStream server on 127.0.0.1:port (-1: any free port).
func startNATS(t *testing.T, port int, storeDir string) *server.Server {
	t.Helper()
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: port, JetStream: true,
		StoreDir: storeDir, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(30 * time.Second) {
		s.Shutdown()
		t.Fatalf("nats-server on port %d not ready", port)
	}
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	return s
}

func readyzIs(t *testing.T, b *bridge, status int) func() error {
	return func() error {
		r := doHTTP(t, http.MethodGet, b.url("/readyz"), "", nil)
		if r.Status != status {
			return fmt.Errorf("/readyz: HTTP %d: %s", r.Status, r.Body)
		}
		return nil
	}
}

func TestJetStreamDownAnswers503(t *testing.T) {
	integration(t)
	storeDir := t.TempDir()
	ns := startNATS(t, -1, storeDir)
	port := ns.Addr().(*net.TCPAddr).Port

	fake, url := fakeWatcher(t, true)
	cfg := testConfig(t, url)
	cfg.NATSURL = ns.ClientURL()
	cfg.Inventory = filepath.Join(examplesDir, "inventory.csv")
	b := startBridge(t, cfg, "external-nats")
	eventually(t, settle, "bridge ready", readyzIs(t, b, http.StatusOK))

	ns.Shutdown()
	ns.WaitForShutdown()
	eventually(t, settle, "bridge notices NATS is gone", readyzIs(t, b, http.StatusServiceUnavailable))

	sample := readFile(t, filepath.Join(examplesDir, "activation.csv"))
	r := doHTTP(t, http.MethodPost, b.url("/activations"), "text/csv", sample)
	if r.Status != http.StatusServiceUnavailable {
		t.Errorf("push while JetStream is down: HTTP %d (%s), want 503", r.Status, r.Body)
	}
	if ra := r.Header.Get("Retry-After"); ra == "" {
		t.Errorf("503 without Retry-After")
	} else if n, err := strconv.Atoi(ra); err != nil || n <= 0 {
		t.Errorf("Retry-After %q, want a positive number of seconds", ra)
	}
	if n := len(fake.Cameras()); n != 0 {
		t.Errorf("Watcher holds %d cameras after a refused push, want 0", n)
	}

	startNATS(t, port, storeDir)
	eventually(t, settle, "bridge ready again", readyzIs(t, b, http.StatusOK))
	reply := push(t, b, "text/csv", sample)
	if reply.Accepted != 4 {
		t.Errorf("push after recovery: accepted %d, want 4 (nothing was recorded by the refused one)", reply.Accepted)
	}
	want, held := sampleWant(t)
	eventually(t, settle, "cameras in Watcher", func() error { return checkCameras(fake, want) })
	waitIdle(t, jsClient(t, b.NATS))
	camerasCreatedOnce(t, fake, cameraNames(keys(want)))
	for _, s := range held {
		if _, ok := fake.Camera(handlers.CameraName(s)); ok {
			t.Errorf("held camera %s is in Watcher", s)
		}
	}
	// Stop while NATS is still up: cleanup shuts NATS down after.
	b.stop(t)
}

func TestRestartMidStreamCreatesNothingTwice(t *testing.T) {
	integration(t)
	const total, pushes = 300, 3
	fake, url := fakeWatcher(t, false)
	// Slow Watcher: every import waits, so the stream takes seconds and
	// the stop lands in the middle of it.
	fake.SetFault(watchertest.Fault{Latency: 50 * time.Millisecond, PathPrefix: "/cameras/import"})

	var inv strings.Builder
	inv.WriteString("agent_serial,organization_id,preset_id,subscriber_id,title\n")
	serials := make([]string, total)
	for i := range serials {
		serials[i] = fmt.Sprintf("RST-%04d", i)
		fmt.Fprintf(&inv, "%s,1,1,SUB-%04d,restart camera %d\n", serials[i], i, i)
	}
	cfg := testConfig(t, url)
	cfg.Inventory = writeFile(t, "inventory.csv", inv.String())
	cfg.Concurrency = 4
	cfg.MaxAckPending = 16
	cfg.BatchSize = 4
	b := startBridge(t, cfg, "before-restart")

	per := total / pushes
	for p := range pushes {
		var body strings.Builder
		body.WriteString("agent_model,agent_serial,agent_id,agent_key,stream_url\n")
		for i := p * per; i < (p+1)*per; i++ {
			fmt.Fprintf(&body, "RST,%s,ag-%04d,ak-%04d,rtsp://10.30.%d.%d:554/main\n", serials[i], i, i, i/250, i%250+1)
		}
		if reply := push(t, b, "text/csv", []byte(body.String())); reply.Accepted != per {
			t.Fatalf("push %d: accepted %d, want %d", p, reply.Accepted, per)
		}
	}
	eventually(t, settle, "first cameras in Watcher", func() error {
		if len(fake.Stats().Cameras) == 0 {
			return errNotYet
		}
		return nil
	})
	b.stop(t)
	atStop := len(fake.Stats().Cameras)
	if atStop >= total {
		t.Fatalf("all %d cameras were in Watcher before the stop: the test did not stop mid-stream", total)
	}
	t.Logf("stopped with %d of %d cameras in Watcher", atStop, total)

	fake.ClearFault()
	b2 := startBridge(t, cfg, "after-restart")
	eventually(t, settle, "all cameras in Watcher after restart", func() error {
		var missing []string
		for _, s := range serials {
			if _, ok := fake.Camera(handlers.CameraName(s)); !ok {
				missing = append(missing, s)
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("%d missing, e.g. %s", len(missing), missing[0])
		}
		return nil
	})
	waitIdle(t, jsClient(t, b2.NATS))
	for i, s := range serials {
		if err := hasCamera(fake, s, ownerIs(1, 1, fmt.Sprintf("restart camera %d", i)))(); err != nil {
			t.Error(err)
		}
	}
	if n := len(fake.Cameras()); n != total {
		t.Errorf("Watcher holds %d cameras, want %d", n, total)
	}
	camerasCreatedOnce(t, fake, cameraNames(serials))
	b2.stop(t)
}

func TestPermanentWatcherErrorIsDeadLettered(t *testing.T) {
	integration(t)
	fake, url := fakeWatcher(t, false)
	const bad = "PERM-0002"
	badName := handlers.CameraName(bad)
	fake.SetFault(watchertest.Fault{PathPrefix: "/cameras/import", RowError: map[string]string{badName: "stream_url is refused by policy"}})
	cfg := testConfig(t, url)
	cfg.Unassigned = handlers.Default
	b := startBridge(t, cfg, "permanent")
	js := jsClient(t, b.NATS)

	const header = "agent_model,agent_serial,agent_id,agent_key,stream_url\n"
	goodSerials := []string{"PERM-0001", "PERM-0003"}
	reply := push(t, b, "text/csv", []byte(header+
		"M,PERM-0001,ag-1,ak-1,rtsp://10.40.0.1:554/main\n"+
		"M,"+bad+",ag-2,ak-2,rtsp://10.40.0.2:554/main\n"+
		"M,PERM-0003,ag-3,ak-3,rtsp://10.40.0.3:554/main\n"))
	if reply.Accepted != 3 {
		t.Fatalf("accepted %d, want 3", reply.Accepted)
	}

	subject := events.DeadLetterSubject(events.CameraActivated)
	var dl *jetstream.RawStreamMsg
	eventually(t, settle, "dead letter on "+subject, func() error {
		var err error
		dl, err = lastDeadLetter(t.Context(), js, subject)
		return err
	})
	if reason := dl.Header.Get(events.HdrReason); !strings.Contains(reason, badName) {
		t.Errorf("%s = %q, want a reason naming camera %s", events.HdrReason, reason, badName)
	}
	if st := dl.Header.Get(events.HdrWatcherStatus); st == "" {
		t.Errorf("%s missing", events.HdrWatcherStatus)
	}
	seq, err := strconv.ParseUint(dl.Header.Get(events.HdrStreamSeq), 10, 64)
	if err != nil {
		t.Fatalf("%s = %q: %v", events.HdrStreamSeq, dl.Header.Get(events.HdrStreamSeq), err)
	}
	billing, err := js.Stream(t.Context(), events.Stream)
	if err != nil {
		t.Fatal(err)
	}
	orig, err := billing.GetMsg(t.Context(), seq)
	if err != nil {
		t.Fatalf("original event at sequence %d: %v", seq, err)
	}
	if !bytes.Equal(dl.Data, orig.Data) {
		t.Errorf("dead letter body differs from the original event:\n got %s\nwant %s", dl.Data, orig.Data)
	}
	env, err := events.Decode(dl.Data, nil)
	if err != nil {
		t.Fatalf("dead letter body is not an event: %v", err)
	}
	var row activation.Row
	if err := env.DecodeData(&row); err != nil || env.Type != events.CameraActivated || row.AgentSerial != bad {
		t.Errorf("dead letter holds %s for %q (%v), want the camera.activated event of %s", env.Type, row.AgentSerial, err, bad)
	}

	for _, s := range goodSerials {
		eventually(t, settle, "good camera "+s, hasCamera(fake, s, nil))
	}
	waitIdle(t, js)
	imports := fake.Stats().Endpoints["POST /cameras/import"]

	// Sentinel on the same topic: once it is in Watcher, a retried or
	// looping bad event would have added imports or dead letters.
	const sentinel = "PERM-0004"
	push(t, b, "text/csv", []byte(header+"M,"+sentinel+",ag-4,ak-4,rtsp://10.40.0.4:554/main\n"))
	eventually(t, settle, "sentinel camera", hasCamera(fake, sentinel, nil))
	waitIdle(t, js)
	if got := fake.Stats().Endpoints["POST /cameras/import"]; got != imports+1 {
		t.Errorf("imports went from %d to %d while only the sentinel was new, want %d", imports, got, imports+1)
	}
	if n := deadLetterCount(t, js); n != 1 {
		t.Errorf("DEADLETTER holds %d messages, want 1", n)
	}
	if _, ok := fake.Camera(badName); ok {
		t.Errorf("rejected camera %s is in Watcher", badName)
	}
	camerasCreatedOnce(t, fake, cameraNames(append(goodSerials, sentinel)))
	if n := len(fake.Cameras()); n != 3 {
		t.Errorf("Watcher holds %d cameras, want 3", n)
	}
	b.stop(t)
}

func TestTransientWatcherErrorIsRetried(t *testing.T) {
	integration(t)
	fake, url := fakeWatcher(t, false)
	fake.SetFault(watchertest.Fault{Status: http.StatusServiceUnavailable, Count: 2, PathPrefix: "/cameras/import"})
	cfg := testConfig(t, url)
	cfg.Unassigned = handlers.Default
	b := startBridge(t, cfg, "transient")
	js := jsClient(t, b.NATS)

	const serial = "TRANS-0001"
	push(t, b, "text/csv", []byte("agent_model,agent_serial,agent_id,agent_key,stream_url\nM,"+serial+",ag-1,ak-1,rtsp://10.50.0.1:554/main\n"))
	eventually(t, settle, "camera in Watcher despite two 503s", hasCamera(fake, serial, ownerIs(1, 1, "M "+serial)))
	waitIdle(t, js)

	st := fake.Stats()
	routed := 0
	for _, n := range st.Endpoints {
		routed += n
	}
	if faulted := st.Requests - routed; faulted != 2 {
		t.Errorf("%d requests were answered 503, want 2 (the whole fault budget)", faulted)
	}
	camerasCreatedOnce(t, fake, cameraNames([]string{serial}))
	if n := deadLetterCount(t, js); n != 0 {
		t.Errorf("DEADLETTER holds %d messages, want 0", n)
	}
	b.stop(t)
}

// A consumer deleted under the running bridge stops its topic; /readyz
// must say so, naming the consumer, instead of reporting ready, and
// status must still show the other consumers and name the missing one.
func TestReadyzFailsWhenAConsumerIsDeleted(t *testing.T) {
	integration(t)
	_, url := fakeWatcher(t, false)
	cfg := testConfig(t, url)
	cfg.AdminListen = "127.0.0.1:0"
	b := startBridge(t, cfg, "consumer-gone")
	eventually(t, 10*time.Second, "ready", readyzIs(t, b, http.StatusOK))
	js := jsClient(t, b.NATS)
	name := events.ConsumerName(events.CameraAssigned)
	if err := js.DeleteConsumer(t.Context(), events.Stream, name); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "not ready", readyzIs(t, b, http.StatusServiceUnavailable))
	r := doHTTP(t, http.MethodGet, b.url("/readyz"), "", nil)
	if !strings.Contains(string(r.Body), name) {
		t.Fatalf("/readyz does not name the deleted consumer: %s", r.Body)
	}
	out := mustRun(t, "status", "--admin-url=http://"+b.Admin)
	if !strings.Contains(out, "consumer "+name+" of topic "+events.CameraAssigned+" is missing") || !strings.Contains(out, "  "+events.CameraActivated+" ") {
		t.Errorf("status with a deleted consumer should list the others and name the missing one:\n%s", out)
	}
}
