//go:build container

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	mobynet "github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/network"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/watcherbridge/watcherbridge/handlers"
	"github.com/watcherbridge/watcherbridge/watcherclient"
	"github.com/watcherbridge/watcherbridge/watcherclient/watchertest"
)

// The images `make images` builds. The tests never build or pull: `make
// test-container` runs `make images` first.
const (
	bridgeImage = "watcherbridge:dev"
	fakeImage   = "watcherbridge-fakewatcher:dev"
	natsImage   = "watcherbridge-nats:dev"

	ctrAPIKey = "container-test-key"
	// ctrIngestToken is the bearer token the tests push with, read by the
	// bridge from --ingest-token-file.
	ctrIngestToken = "container-test-ingest-token"
	// ctrExamples is deploy/examples seen from this package's directory.
	ctrExamples = "../../deploy/examples"

	// Generous bounds: the suite must pass on a loaded two-core machine.
	ctrStartTimeout = 2 * time.Minute // one container (or the cluster) ready
	ctrSettle       = 3 * time.Minute // the bridge converging after a fault
)

var natsNodes = []string{"nats-1", "nats-2", "nats-3"}

var preflight struct {
	once sync.Once
	err  error
}

// requireEngine fails the test unless the reaper is disabled (nothing can
// be pulled here, the reaper image included) and the three images exist.
func requireEngine(t *testing.T) *testcontainers.DockerClient {
	t.Helper()
	if os.Getenv("TESTCONTAINERS_RYUK_DISABLED") != "true" {
		t.Fatal("TESTCONTAINERS_RYUK_DISABLED=true is required (the reaper image cannot be pulled): run `make test-container`")
	}
	cli, err := testcontainers.NewDockerClientWithOpts(t.Context())
	if err != nil {
		t.Fatalf("no Docker engine: %v", err)
	}
	t.Cleanup(func() { cli.Close() })
	preflight.once.Do(func() {
		var missing []string
		for _, img := range []string{bridgeImage, fakeImage, natsImage} {
			if _, err := cli.ImageInspect(t.Context(), img); err != nil {
				missing = append(missing, fmt.Sprintf("%s (%v)", img, err))
			}
		}
		if len(missing) > 0 {
			preflight.err = fmt.Errorf("images missing: %s; build them with `make images` (`make test-container` does)", strings.Join(missing, ", "))
		}
	})
	if preflight.err != nil {
		t.Fatal(preflight.err)
	}
	return cli
}

// stack is one test's deployment: a three-node JetStream cluster on an
// internal network, the fake Watcher on a second network ("edge"), and the
// bridge on both.
//
// Why two networks: the test reaches the bridge and the fake through ports
// published on 127.0.0.1, and Docker publishes ports through the network
// that gives a container its default gateway. An internal network never
// does, so the bridge's published port always goes through edge, and
// disconnecting the bridge from the NATS network (scenario 4) cuts it off
// from NATS while its /activations stays reachable from the test.
type stack struct {
	t       *testing.T
	docker  *testcontainers.DockerClient
	natsNet *testcontainers.DockerNetwork
	edgeNet *testcontainers.DockerNetwork
	nats    map[string]*testcontainers.DockerContainer
	fake    *testcontainers.DockerContainer
	bridge  *testcontainers.DockerContainer
	watcher *watcherclient.Client
}

// newStack starts the networks, the NATS cluster and the fake Watcher.
func newStack(t *testing.T) *stack {
	t.Helper()
	s := &stack{t: t, docker: requireEngine(t), nats: map[string]*testcontainers.DockerContainer{}}
	ctx := t.Context()

	natsNet, err := network.New(ctx, network.WithInternal())
	testcontainers.CleanupNetwork(t, natsNet)
	if err != nil {
		t.Fatalf("create NATS network: %v", err)
	}
	s.natsNet = natsNet
	edgeNet, err := network.New(ctx)
	testcontainers.CleanupNetwork(t, edgeNet)
	if err != nil {
		t.Fatalf("create edge network: %v", err)
	}
	s.edgeNet = edgeNet

	// The nodes need each other to become healthy (a JetStream cluster
	// needs a quorum), so start all three, then wait for their health checks.
	for _, name := range natsNodes {
		c, err := testcontainers.Run(ctx, natsImage,
			network.WithNetwork([]string{name}, natsNet),
			testcontainers.WithEnv(map[string]string{"NATS_SERVER_NAME": name}),
			testcontainers.WithCmd("--config", "/etc/nats/nats-cluster.conf"),
			// Docker publishes no port of a container on an internal network
			// only; exposing one port explicitly stops testcontainers from
			// trying to publish every port the image exposes.
			testcontainers.WithExposedPorts("4222/tcp"),
			loopbackPorts("4222/tcp"),
			testcontainers.WithWaitStrategyAndDeadline(ctrStartTimeout, wait.ForLog("Server is ready")),
		)
		testcontainers.CleanupContainer(t, c)
		if err != nil {
			t.Fatalf("start %s: %v", name, err)
		}
		logsOnFailure(t, name, c)
		s.nats[name] = c
	}
	for _, name := range natsNodes {
		s.waitHealthy(name, s.nats[name])
	}

	fake, err := testcontainers.Run(ctx, fakeImage,
		network.WithNetwork([]string{"fakewatcher"}, edgeNet),
		testcontainers.WithEnv(map[string]string{"FAKEWATCHER_API_KEY": ctrAPIKey}),
		testcontainers.WithExposedPorts("8081/tcp"),
		loopbackPorts("8081/tcp"),
		testcontainers.WithWaitStrategyAndDeadline(ctrStartTimeout, loopbackHTTP{"8081/tcp", "/_fake/stats"}),
	)
	testcontainers.CleanupContainer(t, fake)
	if err != nil {
		t.Fatalf("start fake Watcher: %v", err)
	}
	logsOnFailure(t, "fakewatcher", fake)
	s.fake = fake
	s.watcher, err = watcherclient.New(watcherclient.Config{BaseURL: s.fakeURL(), APIKey: ctrAPIKey})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// loopbackPorts publishes ports on 127.0.0.1 only (testcontainers would
// otherwise publish on every interface).
func loopbackPorts(ports ...string) testcontainers.CustomizeRequestOption {
	return testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) {
		hc.PortBindings = mobynet.PortMap{}
		for _, p := range ports {
			hc.PortBindings[mobynet.MustParsePort(p)] = []mobynet.PortBinding{{HostIP: netip.MustParseAddr("127.0.0.1")}}
		}
	})
}

// loopbackHTTP waits until GET path on the container's port, published on
// 127.0.0.1, answers 200. wait.ForHTTP asks testcontainers for the Docker
// host, which inside a container is its gateway, not the loopback the
// ports are published on.
type loopbackHTTP struct{ port, path string }

func (w loopbackHTTP) WaitUntilReady(ctx context.Context, target wait.StrategyTarget) error {
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		if err := w.get(ctx, target); err == nil {
			return nil
		} else if st, serr := target.State(ctx); serr == nil && !st.Running {
			return fmt.Errorf("container exited (code %d) while waiting for %s: %w", st.ExitCode, w.path, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("GET %s on %s: %w", w.path, w.port, ctx.Err())
		case <-tick.C:
		}
	}
}

func (w loopbackHTTP) get(ctx context.Context, target wait.StrategyTarget) error {
	p, err := target.MappedPort(ctx, w.port)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d%s", p.Num(), w.path), nil)
	if err != nil {
		return err
	}
	resp, err := ctrHTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return nil
}

// startBridge runs the bridge image with args after `serve`, on edge first
// (so its published port goes through edge) and on the NATS network.
func (s *stack) startBridge(extra ...string) {
	t := s.t
	t.Helper()
	args := append([]string{"serve",
		"--nats-url=nats://nats-1:4222,nats://nats-2:4222,nats://nats-3:4222",
		"--stream-replicas=3",
		"--watcher-url=http://fakewatcher:8081",
		"--ingest-token-file=/etc/watcherbridge/ingest-tokens",
		"--log-level=debug",
	}, extra...)
	files := []testcontainers.ContainerFile{{
		Reader:            strings.NewReader(ctrIngestToken + "\n"),
		ContainerFilePath: "/etc/watcherbridge/ingest-tokens",
		FileMode:          0o444,
	}}
	if slices.ContainsFunc(extra, func(a string) bool { return strings.HasPrefix(a, "--inventory=") }) {
		files = append(files, testcontainers.ContainerFile{
			HostFilePath:      ctrExamples + "/inventory.csv",
			ContainerFilePath: "/etc/watcherbridge/inventory.csv",
			FileMode:          0o444,
		})
	}
	opts := []testcontainers.ContainerCustomizer{
		network.WithNetwork([]string{"bridge"}, s.edgeNet),
		network.WithNetwork([]string{"bridge"}, s.natsNet),
		testcontainers.WithEnv(map[string]string{"WATCHERBRIDGE_WATCHER_API_KEY": ctrAPIKey}),
		testcontainers.WithCmd(args...),
		testcontainers.WithExposedPorts("8080/tcp"),
		loopbackPorts("8080/tcp"),
		testcontainers.WithWaitStrategyAndDeadline(ctrStartTimeout, loopbackHTTP{"8080/tcp", "/readyz"}),
		testcontainers.WithFiles(files...),
	}
	c, err := testcontainers.Run(t.Context(), bridgeImage, opts...)
	testcontainers.CleanupContainer(t, c)
	if err != nil {
		t.Fatalf("start bridge: %v", err)
	}
	logsOnFailure(t, "bridge", c)
	s.bridge = c
}

// waitHealthy waits for the image's HEALTHCHECK to report healthy.
func (s *stack) waitHealthy(name string, c *testcontainers.DockerContainer) {
	s.t.Helper()
	ctrEventually(s.t, ctrStartTimeout, name+" healthy", func() error {
		st, err := c.State(s.t.Context())
		if err != nil {
			return err
		}
		if st.Health == nil {
			return fmt.Errorf("%s has no health check", name)
		}
		if st.Health.Status != container.Healthy {
			return fmt.Errorf("%s is %s", name, st.Health.Status)
		}
		return nil
	})
}

// kill sends SIGKILL: a crash, not a shutdown.
func (s *stack) kill(name string, c *testcontainers.DockerContainer) {
	s.t.Helper()
	if _, err := s.docker.ContainerKill(s.t.Context(), c.GetContainerID(), client.ContainerKillOptions{Signal: "KILL"}); err != nil {
		s.t.Fatalf("kill %s: %v", name, err)
	}
	ctrEventually(s.t, time.Minute, name+" stopped", func() error {
		st, err := c.State(s.t.Context())
		if err != nil {
			return err
		}
		if st.Running {
			return fmt.Errorf("%s still running", name)
		}
		return nil
	})
}

// restart starts a stopped container again, on the same volumes; its wait
// strategy runs again.
func (s *stack) restart(name string, c *testcontainers.DockerContainer) {
	s.t.Helper()
	if err := c.Start(s.t.Context()); err != nil {
		s.t.Fatalf("restart %s: %v", name, err)
	}
}

func hostURL(t *testing.T, c *testcontainers.DockerContainer, port string) string {
	t.Helper()
	p, err := c.MappedPort(t.Context(), port)
	if err != nil {
		t.Fatalf("mapped port %s: %v", port, err)
	}
	return fmt.Sprintf("http://127.0.0.1:%d", p.Num())
}

// bridgeURL is read again every time: a restarted container gets a new
// host port.
func (s *stack) bridgeURL() string { return hostURL(s.t, s.bridge, "8080/tcp") }
func (s *stack) fakeURL() string   { return hostURL(s.t, s.fake, "8081/tcp") }

var ctrHTTP = &http.Client{Timeout: time.Minute}

// get GETs url and returns the status.
func (s *stack) get(url string) (int, error) {
	req, err := http.NewRequestWithContext(s.t.Context(), http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := ctrHTTP.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// post sends one activation push; err is a transport error.
func (s *stack) post(body string) (status int, reply handlers.IngestReply, raw string, err error) {
	req, err := http.NewRequestWithContext(s.t.Context(), http.MethodPost, s.bridgeURL()+"/activations", strings.NewReader(body))
	if err != nil {
		return 0, reply, "", err
	}
	req.Header.Set("Content-Type", "text/csv")
	req.Header.Set("Authorization", "Bearer "+ctrIngestToken)
	resp, err := ctrHTTP.Do(req)
	if err != nil {
		return 0, reply, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, reply, "", err
	}
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(b, &reply); err != nil {
			return resp.StatusCode, reply, string(b), fmt.Errorf("decode reply: %w", err)
		}
	}
	return resp.StatusCode, reply, string(b), nil
}

// pushUntilOK sends the same push until the bridge answers 200, as the
// activation server does after a 503, and returns the reply and how many
// attempts were refused.
func (s *stack) pushUntilOK(body string) (handlers.IngestReply, int) {
	s.t.Helper()
	var reply handlers.IngestReply
	refused := 0
	ctrEventually(s.t, ctrSettle, "push answered 200", func() error {
		status, r, raw, err := s.post(body)
		switch {
		case err != nil:
			refused++
			return err
		case status != http.StatusOK:
			refused++
			return fmt.Errorf("HTTP %d: %s", status, raw)
		}
		reply = r
		return nil
	})
	return reply, refused
}

// activationCSV is a push of serials, each of model "CTR".
func activationCSV(serials []string) string {
	var b strings.Builder
	b.WriteString("agent_model,agent_serial,agent_id,agent_key,stream_url\n")
	for i, s := range serials {
		fmt.Fprintf(&b, "CTR,%s,ag-%s,ak-%s,rtsp://10.40.%d.%d:554/main\n", s, s, s, i/250, i%250+1)
	}
	return b.String()
}

func serialRange(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%04d", prefix, i)
	}
	return out
}

// wantCamera is what Watcher must show for one serial.
type wantCamera struct {
	org, preset int64
	title       string
}

// defaultCameras is what --unassigned default makes of activations of
// model CTR: Watcher's default organization and preset (1 and 1 in a fresh
// fake), titled by model and serial.
func defaultCameras(serials []string) map[string]wantCamera {
	out := map[string]wantCamera{}
	for _, s := range serials {
		out[s] = wantCamera{org: 1, preset: 1, title: "CTR " + s}
	}
	return out
}

// watcherHolds is nil once Watcher holds exactly the cameras of want, each
// created exactly once: nothing lost, nothing doubled.
func (s *stack) watcherHolds(want map[string]wantCamera) error {
	ctx := s.t.Context()
	cams, err := s.watcher.AllCameras(ctx, 500)
	if err != nil {
		return err
	}
	byName := map[string]watcherclient.Camera{}
	for _, c := range cams {
		byName[c.Name] = c
	}
	var bad []string
	for serial, w := range want {
		c, ok := byName[handlers.CameraName(serial)]
		switch {
		case !ok:
			bad = append(bad, serial+" absent")
		case c.OrganizationID == nil || *c.OrganizationID != w.org:
			bad = append(bad, fmt.Sprintf("%s organization %v, want %d", serial, deref(c.OrganizationID), w.org))
		case c.PresetID == nil || *c.PresetID != w.preset:
			bad = append(bad, fmt.Sprintf("%s preset %v, want %d", serial, deref(c.PresetID), w.preset))
		case c.Title != w.title:
			bad = append(bad, fmt.Sprintf("%s title %q, want %q", serial, c.Title, w.title))
		case c.AgentSerial != serial:
			bad = append(bad, fmt.Sprintf("%s agent_serial %q", serial, c.AgentSerial))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("%d of %d cameras wrong, e.g. %s", len(bad), len(want), strings.Join(bad[:min(len(bad), 5)], "; "))
	}
	if len(cams) != len(want) {
		return fmt.Errorf("Watcher holds %d cameras, want %d", len(cams), len(want))
	}
	stats, err := s.fakeStats()
	if err != nil {
		return err
	}
	for serial := range want {
		if n := stats.Cameras[handlers.CameraName(serial)].Created; n != 1 {
			return fmt.Errorf("camera %s created %d times, want 1", serial, n)
		}
	}
	return nil
}

func deref(p *int64) any {
	if p == nil {
		return nil
	}
	return *p
}

func (s *stack) fakeStats() (watchertest.Stats, error) {
	var st watchertest.Stats
	err := s.fakeJSON(http.MethodGet, "/_fake/stats", nil, &st)
	return st, err
}

// setFault sets the fake's fault injection (nil clears it).
func (s *stack) setFault(f *watchertest.Fault) {
	s.t.Helper()
	if f == nil {
		if err := s.fakeJSON(http.MethodDelete, "/_fake/faults", nil, nil); err != nil {
			s.t.Fatal(err)
		}
		return
	}
	b, err := json.Marshal(f)
	if err != nil {
		s.t.Fatal(err)
	}
	if err := s.fakeJSON(http.MethodPost, "/_fake/faults", b, nil); err != nil {
		s.t.Fatal(err)
	}
}

func (s *stack) fakeJSON(method, path string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(s.t.Context(), method, s.fakeURL()+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	resp, err := ctrHTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: HTTP %d: %s", method, path, resp.StatusCode, raw)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(raw, out)
}

// ctrEventually polls cond until it returns nil, failing the test with
// cond's last error after d.
func ctrEventually(t *testing.T, d time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached within %s: %v", what, d, err)
		}
		select {
		case <-t.Context().Done():
			t.Fatalf("%s: %v (last: %v)", what, t.Context().Err(), err)
		case <-tick.C:
		}
	}
}

// logsOnFailure prints the tail of a container's log if the test failed.
// Registered after CleanupContainer, it runs before the container is
// removed.
func logsOnFailure(t *testing.T, name string, c *testcontainers.DockerContainer) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		ctx, cancel := context.WithTimeout(context.WithoutCancel(t.Context()), 30*time.Second)
		defer cancel()
		rc, err := c.Logs(ctx)
		if err != nil {
			t.Logf("%s logs: %v", name, err)
			return
		}
		defer rc.Close()
		var lines []string
		sc := bufio.NewScanner(rc)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			lines = append(lines, sc.Text())
		}
		from := max(0, len(lines)-80)
		t.Logf("last %d log lines of %s:\n%s", len(lines)-from, name, strings.Join(lines[from:], "\n"))
	})
}
