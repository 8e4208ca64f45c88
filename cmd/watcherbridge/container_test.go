//go:build container

// Container tests: the images `make images` builds, a three-node JetStream
// cluster, nodes and the bridge killed and restarted, the bridge cut off
// from NATS. Run them with `make test-container` (part of `make test` when
// a Docker engine answers).
package main

import (
	"bufio"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"

	"github.com/watcherbridge/watcherbridge/watcherclient/watchertest"
)

// TestContainerClusterSamplePush: the bridge image connects to the cluster
// by its three URLs with replicated streams, and the sample push reaches
// Watcher: the three sold cameras in their subscribers' organizations, the
// unsold one held, a repeated push recognised as duplicates.
func TestContainerClusterSamplePush(t *testing.T) {
	s := newStack(t)
	if err := prepareWatcher(t.Context(), s.fakeURL(), ctrAPIKey); err != nil {
		t.Fatalf("prepare fake Watcher: %v", err)
	}
	s.startBridge("--inventory=/etc/watcherbridge/inventory.csv")

	sample, err := os.ReadFile(filepath.Join(ctrExamples, "activation.csv"))
	if err != nil {
		t.Fatal(err)
	}
	demoWant, held, err := demoExpectations(ctrExamples)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]wantCamera{}
	for serial, c := range demoWant {
		want[serial] = wantCamera{org: *c.OrganizationID, preset: *c.PresetID, title: c.Title}
	}
	if len(want) != 3 || len(held) != 1 {
		t.Fatalf("the sample has %d sold and %d held cameras, want 3 and 1", len(want), len(held))
	}

	status, reply, raw, err := s.post(string(sample))
	if err != nil || status != http.StatusOK {
		t.Fatalf("POST sample push: HTTP %d %s: %v", status, raw, err)
	}
	if reply.Accepted != 4 || reply.Rejected != 0 {
		t.Fatalf("sample push: %+v, want 4 accepted", reply)
	}
	ctrEventually(t, ctrSettle, "the three sold cameras in Watcher", func() error { return s.watcherHolds(want) })

	status, reply, raw, err = s.post(string(sample))
	if err != nil || status != http.StatusOK {
		t.Fatalf("POST sample push again: HTTP %d %s: %v", status, raw, err)
	}
	if reply.Duplicate != 4 || reply.Accepted != 0 {
		t.Errorf("repeated push: %+v, want 4 duplicates", reply)
	}
	if err := s.watcherHolds(want); err != nil {
		t.Error(err)
	}
	t.Logf("held (not in Watcher): %v", held)
}

// TestContainerNATSNodeKilled: the node leading the BILLING stream is
// killed while pushes keep coming, then restarted. Every push is retried
// until it gets 200 (as the activation server does after a 503); every
// camera arrives, each created once.
func TestContainerNATSNodeKilled(t *testing.T) {
	const total, batch = 500, 50
	s := newStack(t)
	s.startBridge("--unassigned=default", "--ack-wait=10s")
	s.setFault(&watchertest.Fault{Latency: 20 * time.Millisecond, PathPrefix: "/cameras/import"})

	serials := serialRange("NODE", total)
	victim := s.streamLeader("BILLING")
	refused := 0
	for i := 0; i < total; i += batch {
		if i == 4*batch {
			t.Logf("killing %s (leader of BILLING)", victim)
			s.kill(victim, s.nats[victim])
		}
		reply, n := s.pushUntilOK(activationCSV(serials[i : i+batch]))
		refused += n
		if reply.Accepted+reply.Duplicate != batch {
			t.Fatalf("push %d: %+v, want %d rows recorded", i/batch, reply, batch)
		}
	}
	t.Logf("%d push attempts refused while %s was down", refused, victim)
	s.restart(victim, s.nats[victim])
	s.waitHealthy(victim, s.nats[victim])
	s.setFault(nil)

	ctrEventually(t, ctrSettle, "every camera in Watcher once", func() error { return s.watcherHolds(defaultCameras(serials)) })
}

// TestContainerBridgeKilled: the bridge container gets SIGKILL in the
// middle of a stream (Watcher is slow, so most events are still pending)
// and starts again on its volume; every camera arrives, each created once,
// and a push repeated after the restart is recognised as duplicates.
func TestContainerBridgeKilled(t *testing.T) {
	const first, second, batch = 300, 200, 100
	s := newStack(t)
	s.startBridge("--unassigned=default", "--ack-wait=5s",
		"--concurrency=4", "--max-ack-pending=16", "--batch-size=4")
	s.setFault(&watchertest.Fault{Latency: 50 * time.Millisecond, PathPrefix: "/cameras/import"})

	serials := serialRange("KILL", first+second)
	for i := 0; i < first; i += batch {
		if reply, _ := s.pushUntilOK(activationCSV(serials[i : i+batch])); reply.Accepted != batch {
			t.Fatalf("push %d: %+v, want %d accepted", i/batch, reply, batch)
		}
	}
	ctrEventually(t, ctrSettle, "first cameras in Watcher", func() error {
		st, err := s.fakeStats()
		if err != nil {
			return err
		}
		if len(st.Cameras) == 0 {
			return errors.New("no camera yet")
		}
		return nil
	})
	s.kill("bridge", s.bridge)
	st, err := s.fakeStats()
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Cameras) >= first {
		t.Fatalf("all %d cameras were in Watcher before the kill: the kill did not land mid-stream", first)
	}
	t.Logf("killed the bridge with %d of %d cameras in Watcher", len(st.Cameras), first)

	s.setFault(nil)
	s.restart("bridge", s.bridge)
	if reply, _ := s.pushUntilOK(activationCSV(serials[:batch])); reply.Duplicate != batch {
		t.Errorf("push repeated after the restart: %+v, want %d duplicates", reply, batch)
	}
	for i := first; i < first+second; i += batch {
		if reply, _ := s.pushUntilOK(activationCSV(serials[i : i+batch])); reply.Accepted != batch {
			t.Fatalf("push %d: %+v, want %d accepted", i/batch, reply, batch)
		}
	}
	ctrEventually(t, ctrSettle, "every camera in Watcher once", func() error { return s.watcherHolds(defaultCameras(serials)) })
}

// TestContainerBridgeCutOffFromNATS: the bridge's container is disconnected
// from the NATS network (its /activations stays reachable through the edge
// network), so ingest must answer 503; once reconnected, everything that
// got 200 is applied, and so is the refused push once it is sent again.
func TestContainerBridgeCutOffFromNATS(t *testing.T) {
	const batch = 100
	s := newStack(t)
	s.startBridge("--unassigned=default", "--ack-wait=10s")
	serials := serialRange("CUT", 3*batch)
	before, during, after := serials[:batch], serials[batch:2*batch], serials[2*batch:]

	if reply, _ := s.pushUntilOK(activationCSV(before)); reply.Accepted != batch {
		t.Fatalf("push before the cut: %+v", reply)
	}

	cut := time.Now()
	if _, err := s.docker.NetworkDisconnect(t.Context(), s.natsNet.ID, client.NetworkDisconnectOptions{Container: s.bridge.GetContainerID()}); err != nil {
		t.Fatalf("disconnect the bridge from NATS: %v", err)
	}
	status, _, raw, err := s.post(activationCSV(during))
	if err != nil {
		t.Fatalf("push while cut off: %v", err)
	}
	if status != http.StatusServiceUnavailable {
		t.Fatalf("push while cut off: HTTP %d %s, want 503", status, raw)
	}
	t.Logf("503 after %s cut off: %s", time.Since(cut).Round(time.Millisecond), strings.Join(strings.Fields(raw), " "))
	// Not asserted: nats.go notices a dead connection only through its
	// pings (every two minutes by default), so /readyz may still say ready.
	if status, err := s.get(s.bridgeURL() + "/readyz"); err == nil {
		t.Logf("/readyz while cut off: HTTP %d", status)
	}

	if _, err := s.docker.NetworkConnect(t.Context(), s.natsNet.ID, client.NetworkConnectOptions{
		Container: s.bridge.GetContainerID(), EndpointConfig: &network.EndpointSettings{Aliases: []string{"bridge"}},
	}); err != nil {
		t.Fatalf("reconnect the bridge to NATS: %v", err)
	}
	reconnected := time.Now()
	// The activation server sends the refused push again.
	// Its rows may be duplicates: a 503 means "not known to be recorded",
	// and what the client had buffered can still reach JetStream.
	resent, refused := s.pushUntilOK(activationCSV(during))
	t.Logf("ingest answered 200 again %s after the reconnection (%d more refusals): %d accepted, %d duplicate",
		time.Since(reconnected).Round(time.Millisecond), refused, resent.Accepted, resent.Duplicate)
	if resent.Accepted+resent.Duplicate != batch {
		t.Fatalf("re-sent push: %+v, want %d rows recorded", resent, batch)
	}
	if reply, _ := s.pushUntilOK(activationCSV(after)); reply.Accepted != batch {
		t.Fatalf("push after the cut: %+v", reply)
	}
	ctrEventually(t, ctrSettle, "every camera in Watcher once", func() error { return s.watcherHolds(defaultCameras(serials)) })
}

// streamLeader is the node that last logged becoming the leader of
// stream. It reads the nodes' logs because the NATS network is internal:
// the test has no NATS connection of its own.
func (s *stack) streamLeader(stream string) string {
	s.t.Helper()
	needle := "new stream leader for '$G > " + stream + "'"
	var leader, latest string
	ctrEventually(s.t, ctrStartTimeout, "a leader for stream "+stream, func() error {
		for _, name := range natsNodes {
			rc, err := s.nats[name].Logs(s.t.Context())
			if err != nil {
				return err
			}
			sc := bufio.NewScanner(rc)
			for sc.Scan() {
				line := sc.Text()
				if !strings.Contains(line, needle) {
					continue
				}
				// "[1] 2026/12/03 16:44:01.123456 [INF] ...": the time sorts as text.
				if f := strings.Fields(line); len(f) > 3 && f[1]+f[2] > latest {
					leader, latest = name, f[1]+f[2]
				}
			}
			rc.Close()
		}
		if latest == "" {
			return errors.New("no node logged it yet")
		}
		return nil
	})
	return leader
}
