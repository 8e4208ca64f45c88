package handlers

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// exported is every metric family name the bridge can export.
func exported(t *testing.T) map[string]bool {
	t.Helper()
	m := NewMetrics()
	// Series with labels appear only once used.
	m.Event("t", "applied")
	m.IngestRows("accepted", 1)
	m.watcherReqs.WithLabelValues("e", "200").Inc()
	m.watcherLatency.WithLabelValues("e").Observe(1)
	names := map[string]bool{}
	fams, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		names[f.GetName()] = true
		if f.GetType().String() == "HISTOGRAM" {
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				names[f.GetName()+s] = true
			}
		}
	}
	// Collectors that need a broker or a file: their descriptions suffice.
	for _, name := range []string{"watcherbridge_consumer_pending_messages", "watcherbridge_consumer_ack_pending_messages", "watcherbridge_dead_letters", "watcherbridge_store_bytes", "watcherbridge_reconcile_drift"} {
		names[name] = true
	}
	return names
}

var metricRef = regexp.MustCompile(`watcherbridge_[a-z_]+`)

func checkRefs(t *testing.T, file string, exprs []string, names map[string]bool) {
	t.Helper()
	if len(exprs) == 0 {
		t.Fatalf("%s has no expressions", file)
	}
	for _, e := range exprs {
		for _, ref := range metricRef.FindAllString(e, -1) {
			if !names[ref] {
				t.Errorf("%s refers to %s, which the bridge does not export", file, ref)
			}
		}
	}
}

func TestAlertRulesUseExportedMetrics(t *testing.T) {
	raw, err := os.ReadFile("../deploy/prometheus/alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert string `json:"alert"`
				Expr  string `json:"expr"`
			} `json:"rules"`
		} `json:"groups"`
	}
	if err := yaml.Unmarshal(raw, &rules); err != nil {
		t.Fatalf("alerts.yaml: %v", err)
	}
	var exprs []string
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" || strings.TrimSpace(r.Expr) == "" {
				t.Errorf("rule %+v lacks a name or an expression", r)
			}
			exprs = append(exprs, r.Expr)
		}
	}
	checkRefs(t, "alerts.yaml", exprs, exported(t))
}

func TestDashboardUsesExportedMetrics(t *testing.T) {
	raw, err := os.ReadFile("../deploy/grafana/watcherbridge.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("dashboard: %v", err)
	}
	var exprs []string
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
		}
	}
	checkRefs(t, "watcherbridge.json", exprs, exported(t))
}
