// Package handlers applies billing events to Watcher and serves the HTTP
// entry points (activation ingest, health).
package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/rs/zerolog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/watcherbridge/watcherbridge/events"
	"github.com/watcherbridge/watcherbridge/events/activation"
	"github.com/watcherbridge/watcherbridge/handlers/plans"
	"github.com/watcherbridge/watcherbridge/store"
	"github.com/watcherbridge/watcherbridge/watcherclient"
)

// Outcome says what handling an event did.
type Outcome string

// Outcomes of Apply.
const (
	Applied   Outcome = "applied"   // Watcher was changed
	Unchanged Outcome = "unchanged" // merged; Watcher already holds the result
	Held      Outcome = "held"      // merged; waiting for the other half
	Duplicate Outcome = "duplicate" // this event id was handled before
	Stale     Outcome = "stale"     // older than what the record already holds
)

// Importer is the part of Watcher the applier needs.
type Importer interface {
	ImportCameras(ctx context.Context, rows []watcherclient.Camera) (watcherclient.ImportResult, error)
}

// ApplierConfig tunes the applier.
type ApplierConfig struct {
	Unassigned Unassigned
	// MaxBatch bounds how many events are committed together.
	MaxBatch int
	// MaxDelay bounds how long the first event of a group waits for others.
	MaxDelay time.Duration
	// ImportChunk bounds the rows of one POST /cameras/import.
	ImportChunk int
	// Plans maps billing plans to presets and rules; nil means no plans
	// file, and an event naming a plan is refused.
	Plans *plans.Set
	// Directory handles users and folder permissions for subscriber
	// events; nil refuses them.
	Directory Directory
	// Log receives one line per camera changed in Watcher, naming the
	// fields that changed; nil logs nothing.
	Log *zerolog.Logger
}

func (c *ApplierConfig) setDefaults() {
	if c.Unassigned == "" {
		c.Unassigned = Hold
	}
	if c.MaxBatch <= 0 {
		c.MaxBatch = 512
	}
	if c.MaxDelay <= 0 {
		c.MaxDelay = 10 * time.Millisecond
	}
	if c.ImportChunk <= 0 {
		c.ImportChunk = 500
	}
}

// Applier merges events into the store and brings Watcher in line with the
// result. Events are handled in groups by one goroutine (Run): one bbolt
// transaction and one import call per group instead of one of each per
// event, and no two groups race on the same record.
type Applier struct {
	db      *store.DB
	watcher Importer
	cfg     ApplierConfig
	reqs    chan *request
	// exclusive runs work between groups (replay, reconciliation; see
	// replay.go), so it reads and writes the store as its only writer.
	exclusive chan func(context.Context)
	now       func() time.Time
	// configErr holds the last ConfigError until Watcher accepts a call.
	configErr atomic.Pointer[ConfigError]
	// stale counts events skipped because they were older than what their
	// record already held for the same field.
	stale atomic.Uint64
}

// StaleSkipped is how many events were skipped as older than the state
// they would have changed.
func (a *Applier) StaleSkipped() uint64 { return a.stale.Load() }

// Health is nil unless Watcher refuses the bridge's configuration.
func (a *Applier) Health() error {
	if e := a.configErr.Load(); e != nil {
		return e
	}
	return nil
}

type request struct {
	ctx     context.Context
	ev      events.Envelope
	payload any    // *activation.Row or an events payload
	key     string // camera record key, for camera events
	sub     string // subscriber id, for subscriber events
	done    chan result
	outcome Outcome
	err     error
}

type result struct {
	outcome Outcome
	err     error
}

// NewApplier returns an applier; call Run before Apply.
func NewApplier(db *store.DB, watcher Importer, cfg ApplierConfig) *Applier {
	cfg.setDefaults()
	return &Applier{db: db, watcher: watcher, cfg: cfg, reqs: make(chan *request), exclusive: make(chan func(context.Context)), now: time.Now}
}

// Apply handles one event and returns once its effect is committed (or it
// failed). Safe for concurrent use; concurrent callers share groups.
func (a *Applier) Apply(ctx context.Context, ev events.Envelope) (Outcome, error) {
	r := &request{ctx: ctx, ev: ev, done: make(chan result, 1)}
	if err := r.decode(a.cfg.Plans); err != nil {
		return "", err
	}
	select {
	case a.reqs <- r:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	select {
	case res := <-r.done:
		return res.outcome, res.err
	case <-ctx.Done():
		// The group still completes; the message is redelivered and then
		// found in the ledger.
		return "", ctx.Err()
	}
}

func (r *request) decode(ps *plans.Set) error {
	if r.ev.Type == events.CameraActivated {
		var row activation.Row
		if err := r.ev.DecodeData(&row); err != nil {
			return err
		}
		if err := row.Validate(); err != nil {
			return &events.InvalidError{EventID: r.ev.ID, Field: "data", Reason: err.Error()}
		}
		r.payload, r.key = &row, row.AgentSerial
		return nil
	}
	p, err := events.DecodePayload(r.ev)
	if err != nil {
		return err
	}
	r.payload = p
	plan := ""
	switch p := p.(type) {
	case *events.Assignment:
		r.key, plan = p.AgentSerial, p.PlanID
	case *events.CameraUnassignment:
		r.key = p.AgentSerial
		if p.CameraID != "" {
			r.key = store.AddedKey(p.CameraID)
		}
	case *events.CameraAddition:
		r.key, plan = store.AddedKey(p.CameraID), p.PlanID
	case *events.SubscriberProfile:
		r.sub, plan = p.SubscriberID, p.PlanID
	case *events.PlanChange:
		r.sub, plan = p.SubscriberID, p.PlanID
	default:
		r.sub = p.Subject()
	}
	if plan != "" {
		if _, err := ps.Lookup(plan); err != nil {
			return &PermanentError{Reason: "event " + r.ev.ID, Err: err}
		}
	}
	return nil
}

// Run processes groups until ctx ends. Requests still queued when ctx ends
// are answered with ctx's error so their messages are redelivered.
func (a *Applier) Run(ctx context.Context) error {
	for {
		var first *request
		select {
		case <-ctx.Done():
			return nil
		case fn := <-a.exclusive:
			fn(ctx)
			continue
		case first = <-a.reqs:
		}
		group := a.collect(ctx, first)
		a.process(ctx, group)
	}
}

func (a *Applier) collect(ctx context.Context, first *request) []*request {
	group := []*request{first}
	timer := time.NewTimer(a.cfg.MaxDelay)
	defer timer.Stop()
	// A group also ends after a lull of MaxDelay/8 with no new event. The
	// CPU profile and execution trace of `make bench` (issue 7) showed the
	// applier idle more than half the time: the events in flight are
	// bounded by the subscribers (--concurrency), so a group almost never
	// reaches MaxBatch, and each one waited the whole MaxDelay although
	// its members had all arrived, in one burst, within a millisecond or
	// two of the previous group being answered.
	gap := max(a.cfg.MaxDelay/8, 100*time.Microsecond)
	lull := time.NewTimer(gap)
	defer lull.Stop()
	for len(group) < a.cfg.MaxBatch {
		select {
		case r := <-a.reqs:
			group = append(group, r)
			lull.Reset(gap)
		case <-lull.C:
			return group
		case <-timer.C:
			return group
		case <-ctx.Done():
			return group
		}
	}
	return group
}

// work is one camera touched by a group, by its own events or through
// its subscriber's.
type work struct {
	rec     store.Camera
	reqs    []*request
	via     *subWork // set when a subscriber event of the group touched it
	changed bool     // the merge changed the record
	send    bool
	desired watcherclient.Camera
	hash    string          // fingerprint of desired, when send
	masked  json.RawMessage // desired with secrets masked, when send
	err     error
}

// process handles one group: merge every event into its record (one read
// transaction), bring users and folders in line for the subscribers that
// changed, import every camera whose desired state changed (its own events
// or its subscriber's) in one call, and commit everything in one write
// transaction. An event's effect is committed only with the Watcher calls
// it needed; a failure leaves its records as they were so the redelivered
// event does it all again.
func (a *Applier) process(ctx context.Context, group []*request) {
	defer func() {
		for _, r := range group {
			if r.outcome == Stale {
				a.stale.Add(1)
			}
			r.done <- result{outcome: r.outcome, err: r.err}
		}
	}()
	now := a.now()
	cams := make(map[string]*work)
	subs := make(map[string]*subWork)
	var order, subOrder []string
	inGroup := make(map[string]bool, len(group))

	err := a.db.View(func(tx *store.Tx) error {
		loadCam := func(key string) (*work, error) {
			if w := cams[key]; w != nil {
				return w, nil
			}
			rec, ok, err := tx.Camera(key)
			if err != nil {
				return nil, err
			}
			if !ok {
				rec = store.Camera{Serial: key}
				if cid, added := strings.CutPrefix(key, store.AddedKey("")); added {
					rec = store.Camera{CameraID: cid}
				}
			}
			w := &work{rec: rec}
			cams[key] = w
			order = append(order, key)
			return w, nil
		}
		loadSub := func(id string) (*subWork, error) {
			if sw := subs[id]; sw != nil {
				return sw, nil
			}
			rec, ok, err := tx.Subscriber(id)
			if err != nil {
				return nil, err
			}
			if !ok {
				rec = store.Subscriber{ID: id}
			}
			sw := &subWork{orig: rec.Clone(), rec: rec, group: subs}
			subs[id] = sw
			subOrder = append(subOrder, id)
			return sw, nil
		}
		for _, r := range group {
			if inGroup[r.ev.ID] || tx.Seen(r.ev.ID) {
				r.outcome = Duplicate
				continue
			}
			inGroup[r.ev.ID] = true
			if r.sub != "" {
				sw, err := loadSub(r.sub)
				if err != nil {
					return err
				}
				if err := loginConflict(tx, sw, r); err != nil {
					r.err = err // refused alone; the group goes on
					continue
				}
				sw.reqs = append(sw.reqs, r)
				if mergeSubscriber(&sw.rec, r) {
					sw.changed = true
					if p, ok := r.payload.(*events.SubscriberProfile); ok && p.Password != "" && sw.rec.Profile.EventID == r.ev.ID {
						sw.password = p.Password
					}
				} else {
					r.outcome = Stale
				}
				continue
			}
			w, err := loadCam(r.key)
			if err != nil {
				return err
			}
			w.reqs = append(w.reqs, r)
			if merge(&w.rec, r) {
				w.changed = true
			} else {
				r.outcome = Stale
			}
		}
		// Every camera of a changed subscriber is recomputed; every camera
		// needs its subscriber's record to be computed.
		for _, id := range subOrder {
			sw := subs[id]
			if !sw.changed {
				continue
			}
			owned, err := tx.SubscriberCameras(id)
			if err != nil {
				return err
			}
			for _, c := range owned {
				w, err := loadCam(c.Key())
				if err != nil {
					return err
				}
				w.via = sw
			}
		}
		for _, key := range order {
			if id := cams[key].rec.SubscriberID(); id != "" {
				if _, err := loadSub(id); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		a.failAll(group, fmt.Errorf("read state: %w", err))
		return
	}

	// Users and folder permissions, one subscriber after the other. A
	// subscriber whose calls fail is rolled back, so its cameras are
	// computed from what Watcher still holds for it.
	for _, id := range subOrder {
		sw := subs[id]
		if !sw.changed {
			continue
		}
		if err := a.syncSubscriber(ctx, sw); err != nil {
			var ce *ConfigError
			if errors.As(err, &ce) {
				a.configErr.Store(ce)
			}
			sw.err = err
			sw.rec = sw.orig.Clone()
		}
	}

	var rows []watcherclient.Camera
	var sending []*work
	for _, key := range order {
		w := cams[key]
		var sub *store.Subscriber
		if sw := subs[w.rec.SubscriberID()]; sw != nil {
			sub = &sw.rec
		}
		desired, ready, err := DesiredState(w.rec, sub, DesiredConfig{Unassigned: a.cfg.Unassigned, Plans: a.cfg.Plans})
		if err != nil {
			w.err = err
			continue
		}
		if !ready {
			continue
		}
		w.desired = desired
		// Once per camera: the JSON encodings of fingerprint were a tenth
		// of the bridge's CPU in the end-to-end profile when done twice.
		hash, masked := fingerprint(desired)
		if w.rec.Applied == nil || w.rec.Applied.Hash != hash {
			w.send, w.hash, w.masked = true, hash, masked
			rows = append(rows, desired)
			sending = append(sending, w)
		}
	}
	a.send(ctx, rows, sending)
	for _, key := range order {
		w := cams[key]
		if w.via == nil || w.via.err != nil {
			continue
		}
		if w.err != nil {
			// The subscriber's event is not done until its cameras are.
			w.via.err = w.err
		} else if w.send {
			w.via.wrote = true
		}
	}
	for _, id := range subOrder {
		if sw := subs[id]; sw.changed && sw.err == nil {
			a.recordSuspension(sw, cams)
		}
	}

	if len(order) == 0 && len(subOrder) == 0 {
		// Every event was a duplicate: nothing to commit, and an empty
		// bbolt transaction still costs an fsync (a replay is all this).
		return
	}
	var changes []appliedChange
	err = a.db.Update(func(tx *store.Tx) error {
		changes = changes[:0] // bbolt may run the function again
		for _, key := range order {
			w := cams[key]
			if w.err != nil {
				continue // nothing of it is kept; the events come back or go to the dead letters
			}
			if len(w.reqs) == 0 && !w.send {
				continue
			}
			var last *request
			for _, r := range w.reqs {
				if r.outcome == "" {
					last = r
					r.outcome = a.outcomeOf(w)
				}
				w.rec.Touch(store.EventRef{ID: r.ev.ID, Type: r.ev.Type, Time: r.ev.Time, Outcome: string(r.outcome)})
				if err := tx.MarkSeen(r.ev.ID, now); err != nil {
					return err
				}
			}
			if w.send {
				evID, cause := "", last
				switch {
				case last != nil:
					evID = last.ev.ID
				case len(w.reqs) > 0:
					cause = w.reqs[len(w.reqs)-1]
					evID = cause.ev.ID
				case w.via != nil:
					evID = lastEventID(w.via)
				}
				hash, masked := w.hash, w.masked
				ch := appliedChange{serial: w.rec.Serial, name: w.desired.Name, eventID: evID,
					fields: changedFields(w.rec.Applied, hash, masked)}
				if cause != nil {
					ch.eventType, ch.delivery = cause.ev.Type, DeliveryOf(cause.ctx)
				}
				changes = append(changes, ch)
				w.rec.Applied = &store.Applied{Hash: hash, Fields: masked, EventID: evID, At: now}
			}
			if err := tx.PutCamera(w.rec); err != nil {
				return err
			}
		}
		for _, id := range subOrder {
			sw := subs[id]
			if sw.err != nil || len(sw.reqs) == 0 {
				continue
			}
			for _, r := range sw.reqs {
				if r.outcome == "" {
					r.outcome = Unchanged
					if sw.wrote {
						r.outcome = Applied
					}
				}
				sw.rec.Touch(store.EventRef{ID: r.ev.ID, Type: r.ev.Type, Time: r.ev.Time, Outcome: string(r.outcome)})
				if err := tx.MarkSeen(r.ev.ID, now); err != nil {
					return err
				}
			}
			if err := tx.PutSubscriber(sw.rec); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		a.failAll(group, fmt.Errorf("commit state: %w", err))
		return
	}
	a.logChanges(changes)
	for _, key := range order {
		w := cams[key]
		if w.err == nil {
			continue
		}
		for _, r := range w.reqs {
			r.outcome, r.err = "", w.err
		}
	}
	for _, id := range subOrder {
		sw := subs[id]
		if sw.err == nil {
			continue
		}
		for _, r := range sw.reqs {
			r.outcome, r.err = "", sw.err
		}
	}
}

func (a *Applier) outcomeOf(w *work) Outcome {
	switch {
	case w.send:
		return Applied
	case w.desired.Name != "":
		return Unchanged
	default:
		return Held
	}
}

// send imports rows in chunks and records each camera's failure on its work.
func (a *Applier) send(ctx context.Context, rows []watcherclient.Camera, sending []*work) {
	for start := 0; start < len(rows); start += a.cfg.ImportChunk {
		end := min(start+a.cfg.ImportChunk, len(rows))
		chunk, ws := rows[start:end], sending[start:end]
		res, err := a.watcher.ImportCameras(ctx, chunk)
		if err != nil {
			err = classifyWatcher("camera import", err)
			if ce := (*ConfigError)(nil); errors.As(err, &ce) {
				a.configErr.Store(ce)
			}
			var perm *PermanentError
			if errors.As(err, &perm) {
				perm.WatcherBody = maskKeys(perm.WatcherBody, chunk)
			}
			for _, w := range ws {
				w.err = err
			}
			continue
		}
		a.configErr.Store(nil)
		rowErrs, err := res.RowErrors(chunk)
		if err != nil {
			perr := &PermanentError{Reason: "watcher import reply names errors the bridge cannot attribute to a camera", WatcherStatus: 200, Err: err}
			for _, w := range ws {
				w.err = perr
			}
			continue
		}
		for i, msg := range rowErrs {
			msg = maskKeys(msg, chunk)
			ws[i].err = &PermanentError{
				Reason:        fmt.Sprintf("watcher rejected camera %s (serial %s): %s", chunk[i].Name, chunk[i].AgentSerial, msg),
				WatcherStatus: 200,
				WatcherBody:   msg,
			}
		}
	}
}

// maskKeys hides the rows' agent keys in text Watcher sent back: a reply
// may quote a row, and the text ends up in logs and dead letters.
func maskKeys(text string, rows []watcherclient.Camera) string {
	for _, r := range rows {
		if r.AgentKey != "" {
			text = strings.ReplaceAll(text, r.AgentKey, "***")
		}
	}
	return text
}

func (a *Applier) failAll(group []*request, err error) {
	for _, r := range group {
		r.outcome, r.err = "", err
	}
}

// merge folds r into rec; false means r is older than what rec holds and
// changes nothing.
func merge(rec *store.Camera, r *request) bool {
	switch p := r.payload.(type) {
	case *activation.Row:
		if cur := rec.Activation; cur != nil && !newer(r.ev, cur.Time, cur.EventID) {
			return false
		}
		rec.Activation = &store.Activation{Row: *p, EventID: r.ev.ID, Time: r.ev.Time}
	case *events.Assignment:
		if cur := rec.Billing; cur != nil && !newer(r.ev, cur.Time, cur.EventID) {
			return false
		}
		rec.Billing = &store.Billing{
			OrganizationID: int64(p.OrganizationID),
			PresetID:       int64(p.PresetID),
			PlanID:         p.PlanID,
			SubscriberID:   p.SubscriberID,
			Title:          p.Title,
			EventID:        r.ev.ID,
			Time:           r.ev.Time,
		}
	case *events.CameraUnassignment:
		if cur := rec.Unassigned; cur != nil && !newer(r.ev, cur.Time, cur.EventID) {
			return false
		}
		reason := p.Reason
		if reason == "" {
			reason = "unassigned by billing"
		}
		rec.Unassigned = &store.Unassignment{Reason: reason, EventID: r.ev.ID, Time: r.ev.Time}
	case *events.CameraAddition:
		if cur := rec.Added; cur != nil && !newer(r.ev, cur.Time, cur.EventID) {
			return false
		}
		rec.Added = &store.Added{
			Title:          p.Title,
			StreamURL:      p.StreamURL,
			SubstreamURL:   p.SubstreamURL,
			OnvifURL:       p.OnvifURL,
			OrganizationID: int64(p.OrganizationID),
			PresetID:       int64(p.PresetID),
			PlanID:         p.PlanID,
			SubscriberID:   p.SubscriberID,
			EventID:        r.ev.ID,
			Time:           r.ev.Time,
		}
	}
	return true
}

// newer orders events by their time; equal times are ordered by id so that
// every replica and replay picks the same winner.
func newer(ev events.Envelope, t time.Time, id string) bool {
	if !ev.Time.Equal(t) {
		return ev.Time.After(t)
	}
	return ev.ID > id
}

// appliedChange is one camera Watcher now holds differently.
type appliedChange struct {
	serial, name, eventID, eventType string
	delivery                         uint64
	fields                           []string
}

func (a *Applier) logChanges(changes []appliedChange) {
	if a.cfg.Log == nil {
		return
	}
	for _, c := range changes {
		ev := a.cfg.Log.Info().Str(FieldSubject, c.serial).Str("camera", c.name).Str(FieldEventID, c.eventID)
		if c.eventType != "" {
			ev = ev.Str(FieldEventType, c.eventType)
		}
		if c.delivery > 0 {
			ev = ev.Uint64(FieldDelivery, c.delivery)
		}
		ev.Strs("changed", c.fields).Msg("camera applied to Watcher")
	}
}

type deliveryKey struct{}

// WithDelivery records in ctx how many times the message being applied was
// delivered, so lines about its effect can say so.
func WithDelivery(ctx context.Context, n uint64) context.Context {
	return context.WithValue(ctx, deliveryKey{}, n)
}

// DeliveryOf is what WithDelivery recorded, 0 when nothing was.
func DeliveryOf(ctx context.Context) uint64 {
	if ctx == nil {
		return 0
	}
	n, _ := ctx.Value(deliveryKey{}).(uint64)
	return n
}
