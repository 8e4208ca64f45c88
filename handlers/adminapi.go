package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/watcherbridge/watcherbridge/store"
	"github.com/watcherbridge/watcherbridge/watcherclient"
)

// isSecretKey tells the JSON keys whose values the admin API and the
// operators' commands never show: the Agent's key and PIN, passwords and
// their hashes, API keys and tokens.
func isSecretKey(k string) bool {
	switch strings.ToLower(k) {
	case "agent_key", "agent_pin", "password", "password_hash", "api_key", "apikey", "token", "secret", "authorization":
		return true
	}
	return false
}

// Masked is what a secret is shown as.
const Masked = "***"

// MaskJSON returns raw with the value of every secret key (agent_key,
// password, ...) replaced by "***", at any depth, and the secret values it
// found, so text quoting them elsewhere (a Watcher reply) can be masked
// too. Text that is not JSON is returned as it is.
func MaskJSON(raw []byte) (masked []byte, secrets []string) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return raw, nil
	}
	v = maskValue(v, &secrets)
	out, err := json.Marshal(v)
	if err != nil {
		return raw, secrets
	}
	return out, secrets
}

func maskValue(v any, secrets *[]string) any {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			if isSecretKey(k) {
				if s, ok := x.(string); ok && s != "" {
					*secrets = append(*secrets, s)
				}
				if x != nil && x != "" {
					t[k] = Masked
				}
				continue
			}
			t[k] = maskValue(x, secrets)
		}
	case []any:
		for i, x := range t {
			t[i] = maskValue(x, secrets)
		}
	}
	return v
}

// MaskText replaces every secret value in text by "***".
func MaskText(text string, secrets []string) string {
	for _, s := range secrets {
		if len(s) >= 4 { // a one-letter "secret" would mask half the text
			text = strings.ReplaceAll(text, s, Masked)
		}
	}
	return text
}

// AdminAPIConfig is what the admin API reads. Every field but DB is
// optional; what is missing is left out of the answers.
type AdminAPIConfig struct {
	// DB is read in read-only transactions only: the applier stays the
	// only writer of the store.
	DB *store.DB
	// Desired computes what Watcher should hold, as the applier does.
	Desired DesiredConfig
	// Streams reports consumers and dead letters.
	Streams StreamStatus
	// WatcherHealth is nil unless Watcher refuses the bridge's settings or
	// has been unreachable past the grace period.
	WatcherHealth func() error
	// Circuit is the circuit breaker's state: closed, half-open or open.
	Circuit func() string
	// NATS is nil while the bridge is connected to NATS, else why not.
	NATS func() error
	// Probe calls Watcher once, cheaply, to tell whether it answers now.
	Probe func(ctx context.Context) error
	// Replayer runs POST /admin/replay; nil disables it.
	Replayer *Replayer
	// Reconciler runs POST /admin/reconcile; nil disables it.
	Reconciler *Reconciler
	// Stop is closed when the bridge shuts down: long operations (a
	// replay) end with it rather than holding the shutdown up.
	Stop <-chan struct{}
	Log  zerolog.Logger
}

// StreamStatus is what JetStream says about the bridge's consumers and
// dead letters.
type StreamStatus interface {
	Consumers(ctx context.Context) ([]ConsumerLag, error)
	DeadLetters(ctx context.Context) (uint64, error)
}

// ConsumerLag is how far one topic's worker consumer is behind.
type ConsumerLag struct {
	Topic       string    `json:"topic"`
	Consumer    string    `json:"consumer"`
	Pending     uint64    `json:"pending"`     // not yet delivered
	AckPending  int       `json:"ack_pending"` // delivered, not yet acknowledged
	Redelivered int       `json:"redelivered"` // delivered more than once, not yet acknowledged
	Delivered   uint64    `json:"delivered"`   // stream sequence last delivered
	LastActive  time.Time `json:"last_active,omitzero"`
}

// AdminAPI serves the operators' read endpoints and the replay and
// reconcile operations on the admin listener.
type AdminAPI struct {
	cfg AdminAPIConfig
}

// NewAdminAPI returns the admin API over cfg.
func NewAdminAPI(cfg AdminAPIConfig) *AdminAPI { return &AdminAPI{cfg: cfg} }

// Register adds the API's routes to mux.
func (a *AdminAPI) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /admin/cameras/{key}", a.camera)
	mux.HandleFunc("GET /admin/subscribers/{id}", a.subscriber)
	mux.HandleFunc("GET /admin/status", a.status)
	if a.cfg.Replayer != nil {
		mux.HandleFunc("POST /admin/replay", a.replay)
	}
	if a.cfg.Reconciler != nil {
		mux.HandleFunc("POST /admin/reconcile", a.reconcile)
	}
}

// CameraView is a camera record as `camera show` prints it: what
// activation and billing each said, what Watcher should hold, what it was
// last sent, the subscriber's state and the last events.
type CameraView struct {
	Key         string              `json:"key"`
	Serial      string              `json:"serial,omitempty"`
	CameraID    string              `json:"camera_id,omitempty"`
	WatcherName string              `json:"watcher_name"`
	Activation  *store.Activation   `json:"activation,omitempty"`
	Billing     *store.Billing      `json:"billing,omitempty"`
	Added       *store.Added        `json:"added,omitempty"`
	Unassigned  *store.Unassignment `json:"unassigned,omitempty"`
	// Desired is the camera Watcher should hold, secrets masked; absent
	// while the record waits for its other half.
	Desired      json.RawMessage  `json:"desired,omitempty"`
	Held         bool             `json:"held"`
	DesiredError string           `json:"desired_error,omitempty"`
	Applied      *store.Applied   `json:"applied,omitempty"`
	InSync       bool             `json:"in_sync"`
	Subscriber   *SubscriberBrief `json:"subscriber,omitempty"`
	Recent       []store.EventRef `json:"recent"`
}

// SubscriberBrief is the part of a subscriber a camera depends on.
type SubscriberBrief struct {
	ID         string            `json:"id"`
	Known      bool              `json:"known"`
	Plan       string            `json:"plan,omitempty"`
	Deleted    bool              `json:"deleted"`
	Suspension *store.Suspension `json:"suspension,omitempty"`
}

func (a *AdminAPI) camera(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("key")
	var view CameraView
	found := false
	err := a.cfg.DB.View(func(tx *store.Tx) error {
		c, ok, err := tx.Camera(key)
		if err == nil && !ok {
			c, ok, err = tx.Camera(store.AddedKey(key))
		}
		if err != nil || !ok {
			return err
		}
		found = true
		var sub *store.Subscriber
		if id := c.SubscriberID(); id != "" {
			if s, ok, err := tx.Subscriber(id); err != nil {
				return err
			} else if ok {
				sub = &s
			}
		}
		view = a.cameraView(c, sub)
		return nil
	})
	switch {
	case err != nil:
		writeError(w, http.StatusInternalServerError, err.Error())
	case !found:
		writeError(w, http.StatusNotFound, "no camera "+strconv.Quote(key)+" in the store (give the serial, or billing's camera_id for a camera added without the Agent)")
	default:
		writeMasked(w, view)
	}
}

func (a *AdminAPI) cameraView(c store.Camera, sub *store.Subscriber) CameraView {
	v := CameraView{Key: c.Key(), Serial: c.Serial, CameraID: c.CameraID, Activation: c.Activation, Billing: c.Billing,
		Added: c.Added, Unassigned: c.Unassigned, Applied: c.Applied, Recent: c.Recent}
	if v.Recent == nil {
		v.Recent = []store.EventRef{}
	}
	v.WatcherName = CameraName(c.Serial)
	if c.Serial == "" {
		v.WatcherName = AddedCameraName(c.CameraID)
	}
	desired, ready, err := DesiredState(c, sub, a.cfg.Desired)
	switch {
	case err != nil:
		v.DesiredError = err.Error()
	case !ready:
		v.Held = true
	default:
		hash, masked := fingerprint(desired)
		v.Desired = masked
		v.InSync = c.Applied != nil && c.Applied.Hash == hash
	}
	if id := c.SubscriberID(); id != "" {
		v.Subscriber = a.subscriberBrief(id, sub)
	}
	return v
}

func (a *AdminAPI) subscriberBrief(id string, sub *store.Subscriber) *SubscriberBrief {
	b := &SubscriberBrief{ID: id}
	if sub == nil {
		return b
	}
	b.Known = true
	if p := sub.CurrentPlan(); p != nil {
		b.Plan = p.PlanID
	}
	b.Deleted = subscriberDeleted(sub)
	b.Suspension = sub.Suspension
	return b
}

// SubscriberView is a subscriber as `subscriber show` prints it.
type SubscriberView struct {
	Record store.Subscriber `json:"record"`
	Plan   string           `json:"plan,omitempty"`
	// Suspended is the policy of the current suspension, empty when none.
	Suspended string `json:"suspended,omitempty"`
	Deleted   bool   `json:"deleted"`
	// DesiredUser is the Watcher user the subscriber should have.
	DesiredUser *watcherclient.User `json:"desired_user,omitempty"`
	UserInSync  bool                `json:"user_in_sync"`
	Cameras     []CameraBrief       `json:"cameras"`
}

// CameraBrief is one camera of a subscriber.
type CameraBrief struct {
	Key         string `json:"key"`
	WatcherName string `json:"watcher_name"`
	Enabled     *bool  `json:"enabled,omitempty"`
	Held        bool   `json:"held"`
	InSync      bool   `json:"in_sync"`
}

func (a *AdminAPI) subscriber(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	var view SubscriberView
	found := false
	err := a.cfg.DB.View(func(tx *store.Tx) error {
		s, ok, err := tx.Subscriber(id)
		if err != nil || !ok {
			return err
		}
		found = true
		view = SubscriberView{Record: s, Deleted: subscriberDeleted(&s), Cameras: []CameraBrief{}}
		if p := s.CurrentPlan(); p != nil {
			view.Plan = p.PlanID
		}
		if pol, ok := suspensionPolicy(&s, a.cfg.Desired.Plans); ok {
			view.Suspended = string(pol)
		}
		if u, hash, ok := desiredUser(&s, a.cfg.Desired.Plans); ok {
			view.DesiredUser = &u
			view.UserInSync = s.UserID != 0 && s.AppliedUser != nil && s.AppliedUser.Hash == hash
		}
		cams, err := tx.SubscriberCameras(id)
		if err != nil {
			return err
		}
		for _, c := range cams {
			cv := a.cameraView(c, &s)
			cb := CameraBrief{Key: cv.Key, WatcherName: cv.WatcherName, Held: cv.Held, InSync: cv.InSync}
			if !cv.Held && cv.DesiredError == "" {
				d, _, _ := DesiredState(c, &s, a.cfg.Desired)
				cb.Enabled = d.Enabled
			}
			view.Cameras = append(view.Cameras, cb)
		}
		return nil
	})
	switch {
	case err != nil:
		writeError(w, http.StatusInternalServerError, err.Error())
	case !found:
		writeError(w, http.StatusNotFound, "no subscriber "+strconv.Quote(id)+" in the store")
	default:
		writeMasked(w, view)
	}
}

// Status is what `watcherbridge status` prints.
type Status struct {
	Consumers   []ConsumerLag `json:"consumers"`
	DeadLetters *uint64       `json:"dead_letters,omitempty"`
	// NATS is "connected" or why the bridge is not.
	NATS    string        `json:"nats"`
	Store   StoreStatus   `json:"store"`
	Watcher WatcherStatus `json:"watcher"`
	// Errors lists what could not be read.
	Errors []string `json:"errors,omitempty"`
}

// StoreStatus describes the state file.
type StoreStatus struct {
	Path        string `json:"path"`
	Bytes       int64  `json:"bytes"`
	Cameras     int    `json:"cameras"`
	Applied     int    `json:"applied"`
	Subscribers int    `json:"subscribers"`
}

// WatcherStatus is what the bridge knows of Watcher.
type WatcherStatus struct {
	Reachable bool   `json:"reachable"`
	Error     string `json:"error,omitempty"`
	Circuit   string `json:"circuit,omitempty"`
	// Health is why /readyz fails on Watcher, empty when it does not.
	Health string `json:"health,omitempty"`
}

func (a *AdminAPI) status(w http.ResponseWriter, r *http.Request) {
	// Each source gets its own deadline: a broker that does not answer
	// must not use up the time of the Watcher probe and make Watcher look
	// down during an incident that is NATS's.
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	st := Status{Consumers: []ConsumerLag{}, NATS: "connected"}
	natsUp := true
	if a.cfg.NATS != nil {
		if err := a.cfg.NATS(); err != nil {
			st.NATS, natsUp = err.Error(), false
		}
	}
	if s := a.cfg.Streams; s != nil && natsUp {
		// What could be read is shown even when a consumer could not:
		// one deleted under the bridge is exactly when the rest matter.
		c, err := s.Consumers(ctx)
		if c != nil {
			st.Consumers = c
		}
		if err != nil {
			st.Errors = append(st.Errors, "consumers: "+err.Error())
		}
		if n, err := s.DeadLetters(ctx); err != nil {
			st.Errors = append(st.Errors, "dead letters: "+err.Error())
		} else {
			st.DeadLetters = &n
		}
	}
	st.Store = StoreStatus{Path: a.cfg.DB.Path(), Bytes: a.cfg.DB.Size()}
	err := a.cfg.DB.View(func(tx *store.Tx) error {
		if err := tx.EachCamera(func(c store.Camera) error {
			st.Store.Cameras++
			if c.Applied != nil {
				st.Store.Applied++
			}
			return nil
		}); err != nil {
			return err
		}
		return tx.EachSubscriber(func(store.Subscriber) error { st.Store.Subscribers++; return nil })
	})
	if err != nil {
		st.Errors = append(st.Errors, "store: "+err.Error())
	}
	if a.cfg.Circuit != nil {
		st.Watcher.Circuit = a.cfg.Circuit()
	}
	if a.cfg.WatcherHealth != nil {
		if err := a.cfg.WatcherHealth(); err != nil {
			st.Watcher.Health = err.Error()
		}
	}
	if a.cfg.Probe != nil {
		pctx, pcancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer pcancel()
		if err := a.cfg.Probe(pctx); err != nil {
			st.Watcher.Error = err.Error()
		} else {
			st.Watcher.Reachable = true
		}
	}
	writeJSON(w, http.StatusOK, st)
}

// writeMasked answers v as JSON with every secret masked.
func writeMasked(w http.ResponseWriter, v any) {
	raw, err := json.Marshal(v)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	masked, _ := MaskJSON(raw)
	w.Header().Set("Content-Type", "application/json")
	var buf bytes.Buffer
	if json.Indent(&buf, masked, "", "  ") == nil {
		masked = append(buf.Bytes(), '\n')
	}
	_, _ = w.Write(masked)
}

// ReplayLine is one line of the answer of POST /admin/replay (JSON lines):
// progress after each batch, each change as it is made (all at the end on
// a dry run), then the result (without its changes) or an error.
type ReplayLine struct {
	Progress *ReplayProgress `json:"progress,omitempty"`
	Change   *Change         `json:"change,omitempty"`
	Result   *ReplayResult   `json:"result,omitempty"`
	Error    string          `json:"error,omitempty"`
}

func (a *AdminAPI) replay(w http.ResponseWriter, r *http.Request) {
	var q ReplayQuery
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&q); err != nil {
		writeError(w, http.StatusBadRequest, "replay parameters: "+err.Error())
		return
	}
	ctx, cancel := a.untilStop(r.Context())
	defer cancel()
	started := false
	enc := json.NewEncoder(w)
	flusher, _ := w.(http.Flusher)
	send := func(l ReplayLine) {
		if !started {
			w.Header().Set("Content-Type", "application/x-ndjson")
			w.WriteHeader(http.StatusOK)
			started = true
		}
		_ = enc.Encode(l)
		if flusher != nil {
			flusher.Flush()
		}
	}
	res, err := a.cfg.Replayer.Replay(ctx, q, func(p ReplayProgress, changes []Change) {
		for i := range changes {
			send(ReplayLine{Change: &changes[i]})
		}
		send(ReplayLine{Progress: &p})
	})
	switch {
	case err != nil && !started && errors.Is(err, ErrBusy):
		writeError(w, http.StatusConflict, err.Error())
	case err != nil && !started && errors.Is(err, ErrBadQuery):
		writeError(w, http.StatusBadRequest, err.Error())
	case err != nil:
		a.cfg.Log.Error().Err(err).Str("topic", q.Topic).Msg("replay failed")
		send(ReplayLine{Error: err.Error()})
	default:
		res.Changes = nil
		send(ReplayLine{Result: &res})
	}
}

// untilStop is ctx, also canceled when the bridge shuts down.
func (a *AdminAPI) untilStop(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	if a.cfg.Stop == nil {
		return ctx, cancel
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		select {
		case <-a.cfg.Stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, func() { cancel(); <-done }
}
