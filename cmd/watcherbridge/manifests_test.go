package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// manifestsDir is deploy/kubernetes seen from this package's directory,
// where `go test` runs.
const manifestsDir = "../../deploy/kubernetes"

// k8sObject is the part of a Kubernetes manifest the checks below read.
type k8sObject struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	Spec struct {
		Template struct {
			Spec struct {
				Containers []k8sContainer `yaml:"containers"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

type k8sContainer struct {
	Name  string `yaml:"name"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	Env []struct {
		Name  string `yaml:"name"`
		Value string `yaml:"value"`
	} `yaml:"env"`
	ReadinessProbe *k8sProbe `yaml:"readinessProbe"`
	LivenessProbe  *k8sProbe `yaml:"livenessProbe"`
}

type k8sProbe struct {
	HTTPGet *struct {
		Path string    `yaml:"path"`
		Port yaml.Node `yaml:"port"` // a number or the name of a container port
	} `yaml:"httpGet"`
}

// readManifests decodes every YAML document of every deploy/kubernetes file
// except kustomization.yaml, keyed by "file#index".
func readManifests(t *testing.T) map[string]k8sObject {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(manifestsDir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no manifests in %s", manifestsDir)
	}
	out := map[string]k8sObject{}
	for _, f := range files {
		if filepath.Base(f) == "kustomization.yaml" {
			continue
		}
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(raw))
		for i := 0; ; i++ {
			var doc yaml.Node
			err := dec.Decode(&doc)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s document %d: %v", f, i, err)
			}
			var obj k8sObject
			if err := doc.Decode(&obj); err != nil {
				t.Fatalf("%s document %d: %v", f, i, err)
			}
			out[fmt.Sprintf("%s document %d", filepath.Base(f), i)] = obj
		}
	}
	return out
}

func TestKubernetesManifestsParse(t *testing.T) {
	t.Parallel()
	objs := readManifests(t)
	for where, o := range objs {
		if o.APIVersion == "" || o.Kind == "" || o.Metadata.Name == "" {
			t.Errorf("%s: apiVersion %q, kind %q, metadata.name %q: all three are required", where, o.APIVersion, o.Kind, o.Metadata.Name)
		}
	}
	var kinds []string
	for _, o := range objs {
		kinds = append(kinds, o.Kind)
	}
	for _, want := range []string{"StatefulSet", "Service", "Secret", "ConfigMap"} {
		if !slices.Contains(kinds, want) {
			t.Errorf("no %s among the manifests (kinds: %v)", want, kinds)
		}
	}
}

// TestKubernetesProbesMatchContainerPort checks that the StatefulSet's
// readiness probe GETs /readyz and its liveness probe /healthz, on a port
// the container declares, and that this is the port the bridge listens on.
func TestKubernetesProbesMatchContainerPort(t *testing.T) {
	t.Parallel()
	var sets []k8sObject
	for _, o := range readManifests(t) {
		if o.Kind == "StatefulSet" {
			sets = append(sets, o)
		}
	}
	if len(sets) != 1 {
		t.Fatalf("%d StatefulSets, want 1", len(sets))
	}
	cs := sets[0].Spec.Template.Spec.Containers
	if len(cs) != 1 {
		t.Fatalf("StatefulSet %s has %d containers, want 1", sets[0].Metadata.Name, len(cs))
	}
	c := cs[0]
	ports := map[string]int{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	// The image listens on 0.0.0.0:8080 unless WATCHERBRIDGE_LISTEN says otherwise.
	listenPort := 8080
	for _, e := range c.Env {
		if e.Name == "WATCHERBRIDGE_LISTEN" {
			i := strings.LastIndex(e.Value, ":")
			if i < 0 {
				t.Fatalf("WATCHERBRIDGE_LISTEN %q has no port", e.Value)
			}
			listenPort = atoi(t, e.Value[i+1:])
		}
	}
	for _, tt := range []struct {
		give  string
		probe *k8sProbe
		want  string
	}{
		{give: "readinessProbe", probe: c.ReadinessProbe, want: "/readyz"},
		{give: "livenessProbe", probe: c.LivenessProbe, want: "/healthz"},
	} {
		if tt.probe == nil || tt.probe.HTTPGet == nil {
			t.Errorf("container %s: no %s.httpGet", c.Name, tt.give)
			continue
		}
		if tt.probe.HTTPGet.Path != tt.want {
			t.Errorf("%s path %q, want %q", tt.give, tt.probe.HTTPGet.Path, tt.want)
		}
		port := probePort(t, tt.probe.HTTPGet.Port, ports)
		if port != listenPort {
			t.Errorf("%s port %d, the bridge listens on %d", tt.give, port, listenPort)
		}
		if !slices.Contains(slices.Collect(maps.Values(ports)), port) {
			t.Errorf("%s port %d is not a port the container exposes (%v)", tt.give, port, ports)
		}
	}
}

// probePort resolves a probe's port, a number or a named container port.
func probePort(t *testing.T, n yaml.Node, named map[string]int) int {
	t.Helper()
	if n.Tag == "!!int" {
		return atoi(t, n.Value)
	}
	p, ok := named[n.Value]
	if !ok {
		t.Fatalf("probe port %q names no container port (%v)", n.Value, named)
	}
	return p
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("port %q: %v", s, err)
	}
	return n
}
