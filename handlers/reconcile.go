package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/watcherbridge/watcherbridge/store"
	"github.com/watcherbridge/watcherbridge/watcherclient"
)

// WatcherReader lists what Watcher holds, one page at a time (Watcher's
// lists are bare arrays without a total).
type WatcherReader interface {
	ListCameras(ctx context.Context, opts watcherclient.ListOptions) ([]watcherclient.Camera, error)
	ListUsers(ctx context.Context, opts watcherclient.ListOptions) ([]watcherclient.User, error)
}

// ReconcileQuery selects what a reconciliation compares and whether it
// fixes what differs.
type ReconcileQuery struct {
	// OrganizationID limits the comparison to one organization; 0 is all.
	OrganizationID int64 `json:"organization_id,omitempty"`
	Fix            bool  `json:"fix,omitempty"`
}

// Drift is one difference between Watcher and the desired state.
type Drift struct {
	Kind string `json:"kind"` // camera or user
	// Key is the camera's serial (or "camera_id ID"), the subscriber id,
	// or for a camera the bridge does not know, its Watcher name.
	Key  string `json:"key"`
	Name string `json:"name"` // Watcher camera name or user login
	// Problem is missing (not in Watcher), different (a field the bridge
	// owns differs) or unknown (in Watcher, not in the bridge's store;
	// reported only, never touched).
	Problem string `json:"problem"`
	// Diff lists the differing fields: From is Watcher's value, To the
	// desired one.
	Diff []FieldDiff `json:"diff,omitempty"`

	storeKey string
}

// ReconcileResult is what a reconciliation found and did.
type ReconcileResult struct {
	OrganizationID int64     `json:"organization_id,omitempty"`
	At             time.Time `json:"at"`
	// Desired counts the cameras and users the bridge wants in Watcher;
	// Watcher those Watcher holds.
	DesiredCameras int      `json:"desired_cameras"`
	DesiredUsers   int      `json:"desired_users"`
	WatcherCameras int      `json:"watcher_cameras"`
	WatcherUsers   int      `json:"watcher_users"`
	Missing        int      `json:"missing"`
	Different      int      `json:"different"`
	Unknown        int      `json:"unknown"`
	Drift          []Drift  `json:"drift"`
	Fixed          bool     `json:"fixed"`
	Changes        []Change `json:"changes,omitempty"`
	Errors         int      `json:"errors"`
}

// Reconciler compares Watcher with the desired state of the store and, on
// request, pushes the desired state where they differ.
type Reconciler struct {
	applier *Applier
	watcher WatcherReader
	db      *store.DB
	cfg     DesiredConfig
	log     zerolog.Logger
	drift   *prometheus.GaugeVec
	lastRun prometheus.Gauge
	running chan struct{}
	// PageSize is the page of Watcher's lists.
	PageSize int
}

// NewReconciler returns a reconciler; register Collectors to export drift.
func NewReconciler(applier *Applier, watcher WatcherReader, log zerolog.Logger) *Reconciler {
	return &Reconciler{
		applier: applier, watcher: watcher, db: applier.db, log: log, PageSize: 500, running: make(chan struct{}, 1),
		cfg: DesiredConfig{Unassigned: applier.cfg.Unassigned, Plans: applier.cfg.Plans},
		drift: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "watcherbridge_reconcile_drift",
			Help: "Objects found differing from the desired state by the last reconciliation, by kind (camera, user) and problem (missing, different, unknown).",
		}, []string{"kind", "problem"}),
		lastRun: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "watcherbridge_reconcile_last_run_timestamp_seconds",
			Help: "When the last reconciliation finished.",
		}),
	}
}

// Collectors are the reconciler's metrics.
func (rc *Reconciler) Collectors() []prometheus.Collector {
	return []prometheus.Collector{rc.drift, rc.lastRun}
}

// Every reconciles (report only) every d until ctx ends, exporting the
// drift as metrics and logging it.
func (rc *Reconciler) Every(ctx context.Context, d time.Duration) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		res, err := rc.Reconcile(ctx, ReconcileQuery{})
		if ctx.Err() == nil {
			rc.logScheduled(res, err)
		}
	}
}

// logScheduled reports a scheduled (report only) run. reconcile --fix is
// suggested only for what it fixes: cameras and users missing or
// different; cameras unknown to the bridge are never touched by it.
func (rc *Reconciler) logScheduled(res ReconcileResult, err error) {
	switch {
	case err != nil:
		rc.log.Warn().Err(err).Msg("scheduled reconciliation failed")
	case res.Missing+res.Different > 0:
		rc.log.Warn().Int("missing", res.Missing).Int("different", res.Different).Int("unknown", res.Unknown).
			Msg("Watcher drifted from the desired state: run watcherbridge reconcile --fix")
	case res.Unknown > 0:
		rc.log.Warn().Int("unknown", res.Unknown).
			Msg("Watcher holds cameras the bridge does not know; reconcile --fix leaves them alone: delete them in Watcher or send their events, if they should exist")
	default:
		rc.log.Debug().Msg("reconciliation found no drift")
	}
}

// Reconcile compares, and fixes with q.Fix.
func (rc *Reconciler) Reconcile(ctx context.Context, q ReconcileQuery) (ReconcileResult, error) {
	// One at a time; a command arriving during a scheduled run waits for
	// it rather than failing.
	select {
	case rc.running <- struct{}{}:
	case <-ctx.Done():
		return ReconcileResult{}, ctx.Err()
	}
	defer func() { <-rc.running }()
	res := ReconcileResult{OrganizationID: q.OrganizationID, Drift: []Drift{}}
	cams, err := pageAll(ctx, rc.PageSize, func(o watcherclient.ListOptions) ([]watcherclient.Camera, error) {
		o.OrganizationID = q.OrganizationID
		return rc.watcher.ListCameras(ctx, o)
	})
	if err != nil {
		return res, fmt.Errorf("list Watcher's cameras: %w", err)
	}
	users, err := pageAll(ctx, rc.PageSize, func(o watcherclient.ListOptions) ([]watcherclient.User, error) {
		return rc.watcher.ListUsers(ctx, o)
	})
	if err != nil {
		return res, fmt.Errorf("list Watcher's users: %w", err)
	}
	inOrg := func(org *int64) bool { return q.OrganizationID == 0 || (org != nil && *org == q.OrganizationID) }
	byName := map[string]watcherclient.Camera{}
	for _, c := range cams {
		if inOrg(c.OrganizationID) {
			byName[c.Name] = c
			res.WatcherCameras++
		}
	}
	byID := map[int64]watcherclient.User{}
	for _, u := range users {
		if inOrg(u.OrganizationID) {
			res.WatcherUsers++
		}
		byID[u.ID] = u
	}

	known := map[string]bool{}
	err = rc.db.View(func(tx *store.Tx) error {
		subs := map[string]*store.Subscriber{}
		if err := tx.EachSubscriber(func(s store.Subscriber) error {
			subs[s.ID] = &s
			u, _, ok := desiredUser(&s, rc.cfg.Plans)
			if !ok || !inOrg(u.OrganizationID) {
				return nil
			}
			res.DesiredUsers++
			d := Drift{Kind: "user", Key: s.ID, Name: u.Login, storeKey: extraSubscriber + s.ID}
			have, ok := byID[s.UserID]
			if s.UserID == 0 || !ok {
				d.Problem = "missing"
			} else if d.Diff = userDiff(have, u); len(d.Diff) > 0 {
				d.Problem = "different"
			}
			if d.Problem != "" {
				res.Drift = append(res.Drift, d)
			}
			return nil
		}); err != nil {
			return err
		}
		return tx.EachCamera(func(c store.Camera) error {
			name := CameraName(c.Serial)
			if c.Serial == "" {
				name = AddedCameraName(c.CameraID)
			}
			known[name] = true
			desired, ready, err := DesiredState(c, subs[c.SubscriberID()], rc.cfg)
			if err != nil || !ready || !inOrg(desired.OrganizationID) {
				return nil
			}
			res.DesiredCameras++
			d := Drift{Kind: "camera", Key: displayKey(c.Key()), Name: name, storeKey: c.Key()}
			have, ok := byName[name]
			if !ok {
				d.Problem = "missing"
			} else if d.Diff = cameraDiff(have, desired); len(d.Diff) > 0 {
				d.Problem = "different"
			}
			if d.Problem != "" {
				res.Drift = append(res.Drift, d)
			}
			return nil
		})
	})
	if err != nil {
		return res, fmt.Errorf("read state: %w", err)
	}
	for _, name := range sortedKeys(byName) {
		if !known[name] {
			res.Drift = append(res.Drift, Drift{Kind: "camera", Key: name, Name: name, Problem: "unknown"})
		}
	}
	counts := map[[2]string]float64{}
	for _, d := range res.Drift {
		counts[[2]string{d.Kind, d.Problem}]++
		switch d.Problem {
		case "missing":
			res.Missing++
		case "different":
			res.Different++
		case "unknown":
			res.Unknown++
		}
	}
	if q.OrganizationID == 0 {
		for _, kind := range []string{"camera", "user"} {
			for _, problem := range []string{"missing", "different", "unknown"} {
				rc.drift.WithLabelValues(kind, problem).Set(counts[[2]string{kind, problem}])
			}
		}
	}

	if q.Fix {
		var extra []string
		drift := map[string]Drift{}
		for _, d := range res.Drift {
			if d.storeKey != "" {
				extra = append(extra, d.storeKey)
				drift[d.storeKey] = d
			}
		}
		if len(extra) > 0 {
			rs := &resync{a: rc.applier, opts: ReplayOptions{Force: true}, cause: "reconcile", drift: drift}
			changes, _, err := rs.run(ctx, nil, extra...)
			res.Changes = changes
			if err != nil {
				return res, fmt.Errorf("fix: %w", err)
			}
		}
		res.Fixed = true
		for _, c := range res.Changes {
			if c.Action == "error" {
				res.Errors++
			}
		}
	}
	res.At = time.Now().UTC()
	rc.lastRun.Set(float64(res.At.Unix()))
	return res, nil
}

// pageAll collects pages until one comes back shorter than the page size.
func pageAll[T any](ctx context.Context, size int, list func(watcherclient.ListOptions) ([]T, error)) ([]T, error) {
	var out []T
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		page, err := list(watcherclient.ListOptions{Limit: size, Offset: len(out)})
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		if len(page) < size {
			return out, nil
		}
	}
}

// notCompared are fields Watcher does not return as sent: secrets and
// write-only hints.
func notCompared(field string) bool {
	switch field {
	case "name", "agent_key", "abonent_sign", "extrenal_id":
		return true
	}
	return false
}

// cameraDiff lists the fields the bridge owns that Watcher holds
// differently. A field Watcher leaves out counts as empty.
func cameraDiff(have, want watcherclient.Camera) []FieldDiff {
	return jsonDiff(have, want, notCompared)
}

func userDiff(have, want watcherclient.User) []FieldDiff {
	want.Password = ""
	return jsonDiff(have, want, func(f string) bool { return f == "password" })
}

func jsonDiff(have, want any, skip func(string) bool) []FieldDiff {
	var h, w map[string]any
	hb, _ := json.Marshal(have)
	wb, _ := json.Marshal(want)
	_ = json.Unmarshal(hb, &h)
	_ = json.Unmarshal(wb, &w)
	var out []FieldDiff
	for k, v := range w {
		if skip(k) {
			continue
		}
		hv, ok := h[k]
		if !ok {
			hv = zeroLike(v)
		}
		if fmt.Sprint(hv) != fmt.Sprint(v) {
			out = append(out, FieldDiff{Field: k, From: fmt.Sprint(hv), To: fmt.Sprint(v)})
		}
	}
	slices.SortFunc(out, func(x, y FieldDiff) int { return strings.Compare(x.Field, y.Field) })
	return out
}

// zeroLike is what an omitted field means: "" for a string, false for a
// boolean, and nothing otherwise.
func zeroLike(v any) any {
	switch v.(type) {
	case string:
		return ""
	case bool:
		return false
	}
	return "(unset)"
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func (a *AdminAPI) reconcile(w http.ResponseWriter, r *http.Request) {
	var q ReconcileQuery
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&q); err != nil {
		writeError(w, http.StatusBadRequest, "reconcile parameters: "+err.Error())
		return
	}
	ctx, cancel := a.untilStop(r.Context())
	defer cancel()
	res, err := a.cfg.Reconciler.Reconcile(ctx, q)
	switch {
	case errors.Is(err, ErrBusy):
		writeError(w, http.StatusConflict, err.Error())
	case err != nil:
		a.cfg.Log.Error().Err(err).Msg("reconciliation failed")
		writeError(w, http.StatusBadGateway, err.Error())
	default:
		writeJSON(w, http.StatusOK, res)
	}
}
