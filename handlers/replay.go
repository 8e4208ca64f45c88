package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/watcherbridge/watcherbridge/events"
	"github.com/watcherbridge/watcherbridge/store"
	"github.com/watcherbridge/watcherbridge/watcherclient"
)

// A replay re-runs stored events through the applier's merge and desired
// state, in the applier's own goroutine between two groups of live events
// (Applier.exclusive), so it never races live processing on a record and
// the applier stays the only writer of the store. Unlike live delivery it
// does not skip an event because its id was handled before: the point is
// to re-evaluate against the current store and plans file. The ordering
// rule still holds, because merging is the same (an event older than what
// a record holds changes nothing), and Watcher is called only where the
// resulting desired state differs from what was last applied, unless
// forced.

// ReplayOptions say what a replay or reconciliation may do.
type ReplayOptions struct {
	// Force pushes the desired state even where the store believes Watcher
	// holds it already (a Watcher restored from an older backup).
	Force bool `json:"force,omitempty"`
	// DryRun changes nothing, in Watcher or in the store; the changes are
	// reported as what would be done.
	DryRun bool `json:"dry_run,omitempty"`
}

// ReplayQuery selects the stored events of a replay.
type ReplayQuery struct {
	Topic string `json:"topic"`
	// Subject keeps only events about this camera serial, camera id or
	// subscriber.
	Subject string    `json:"subject,omitempty"`
	FromSeq uint64    `json:"from_seq,omitempty"`
	ToSeq   uint64    `json:"to_seq,omitempty"`
	Since   time.Time `json:"since,omitzero"`
	Until   time.Time `json:"until,omitzero"`
	ReplayOptions
}

// StoredEvent is one message read back from the stream.
type StoredEvent struct {
	Seq uint64
	// Pending is how many messages of the query remain after this one.
	Pending uint64
	Data    []byte
	Header  map[string]string
}

// EventSource reads the stored events of a query in stream order,
// without disturbing the worker's consumers.
type EventSource interface {
	Events(ctx context.Context, q ReplayQuery, fn func(StoredEvent) error) error
}

// Change is one object whose Watcher state a replay or reconciliation
// changed, or would change on a dry run.
type Change struct {
	Kind   string      `json:"kind"` // camera, user, folder, event
	Key    string      `json:"key"`  // serial, camera_id, subscriber id, event id
	Name   string      `json:"name,omitempty"`
	Action string      `json:"action"` // create, update, grant, revoke, error
	Diff   []FieldDiff `json:"diff,omitempty"`
	Error  string      `json:"error,omitempty"`
}

// FieldDiff is one field of a change; From is empty for a field never
// sent.
type FieldDiff struct {
	Field string `json:"field"`
	From  string `json:"from,omitempty"`
	To    string `json:"to"`
}

// ReplayProgress is reported after each batch.
type ReplayProgress struct {
	Done  int `json:"done"`
	Total int `json:"total"`
}

// ReplayResult sums up a replay.
type ReplayResult struct {
	DryRun  bool `json:"dry_run"`
	Forced  bool `json:"forced"`
	Read    int  `json:"read"`    // events read from the stream
	Matched int  `json:"matched"` // of them, about --subject (all without it)
	Merged  int  `json:"merged"`  // changed a record: new to the store
	Stale   int  `json:"stale"`   // older than, or already in, their record
	Invalid int  `json:"invalid"`
	// Cameras, Users and Folders count Watcher objects changed (or that
	// would change).
	Cameras int      `json:"cameras"`
	Users   int      `json:"users"`
	Folders int      `json:"folders"`
	Errors  int      `json:"errors"`
	Changes []Change `json:"changes"`
}

func (r *ReplayResult) count(changes []Change) {
	for _, c := range changes {
		switch {
		case c.Action == "error":
			r.Errors++
		case c.Kind == "camera":
			r.Cameras++
		case c.Kind == "user":
			r.Users++
		case c.Kind == "folder":
			r.Folders++
		}
	}
}

// ErrBusy means another replay or reconciliation is running.
var ErrBusy = errors.New("another replay or reconciliation is running; wait for it to finish")

// ErrBadQuery wraps what is wrong with a replay's parameters.
var ErrBadQuery = errors.New("bad replay parameters")

// Replayer runs replays for the admin API: it reads events from its
// source and hands them to the applier in batches.
type Replayer struct {
	applier *Applier
	source  EventSource
	log     zerolog.Logger
	// Batch bounds the events handled in one exclusive section, so live
	// groups run in between.
	Batch int
	mu    sync.Mutex
}

// NewReplayer returns a replayer over applier reading source.
func NewReplayer(applier *Applier, source EventSource, log zerolog.Logger) *Replayer {
	return &Replayer{applier: applier, source: source, log: log, Batch: 200}
}

// Replay runs q. progress, if set, is told after each batch, with the
// changes of the batch (on a dry run they come all at once at the end,
// merged per object, since later events may cancel earlier ones).
func (p *Replayer) Replay(ctx context.Context, q ReplayQuery, progress func(ReplayProgress, []Change)) (ReplayResult, error) {
	if !p.mu.TryLock() {
		return ReplayResult{}, ErrBusy
	}
	defer p.mu.Unlock()
	if !slices.Contains(events.Topics(), q.Topic) {
		return ReplayResult{}, fmt.Errorf("%w: topic %q: want one of %s", ErrBadQuery, q.Topic, strings.Join(events.Topics(), ", "))
	}
	if q.FromSeq > 0 && !q.Since.IsZero() || q.ToSeq > 0 && !q.Until.IsZero() {
		return ReplayResult{}, fmt.Errorf("%w: give a sequence or a time for each end of the range, not both", ErrBadQuery)
	}
	res := ReplayResult{DryRun: q.DryRun, Forced: q.Force, Changes: []Change{}}
	rs := &resync{a: p.applier, opts: q.ReplayOptions}
	if q.DryRun {
		rs.overlay = newOverlay()
	}
	var batch []events.Envelope
	flush := func(pending uint64) error {
		changes, st, err := rs.run(ctx, batch)
		batch = batch[:0]
		if err != nil {
			return err
		}
		res.Merged += st.merged
		res.Stale += st.stale
		res.Invalid += st.invalid
		if !q.DryRun {
			res.count(changes)
			res.Changes = append(res.Changes, changes...)
		}
		if progress != nil {
			progress(ReplayProgress{Done: res.Read, Total: res.Read + int(pending)}, changes)
		}
		return nil
	}
	var lastPending uint64
	err := p.source.Events(ctx, q, func(se StoredEvent) error {
		res.Read++
		lastPending = se.Pending
		env, err := events.Decode(se.Data, headerFunc(se.Header))
		switch {
		case err != nil:
			res.Invalid++
		case q.Subject == "" || env.Subject == q.Subject:
			res.Matched++
			batch = append(batch, env)
		}
		if len(batch) >= p.Batch {
			return flush(se.Pending)
		}
		return nil
	})
	if err == nil && (len(batch) > 0 || res.Read == 0) {
		err = flush(lastPending)
	}
	if err == nil && q.DryRun {
		changes := rs.overlay.changes()
		res.count(changes)
		res.Changes = changes
		if progress != nil {
			progress(ReplayProgress{Done: res.Read, Total: res.Read}, changes)
		}
	}
	p.log.Info().Str("topic", q.Topic).Bool("dry_run", q.DryRun).Bool("force", q.Force).Int("read", res.Read).
		Int("merged", res.Merged).Int("cameras", res.Cameras).Int("users", res.Users).Int("errors", res.Errors).AnErr("error", err).Msg("replay finished")
	return res, err
}

func headerFunc(h map[string]string) events.Header {
	return func(key string) string {
		for k, v := range h {
			if strings.EqualFold(k, key) {
				return v
			}
		}
		return ""
	}
}

// exclusively runs fn in the applier's goroutine between two groups and
// waits for it. fn gets ctx, the caller's context.
func (a *Applier) exclusively(ctx context.Context, fn func(context.Context)) error {
	done := make(chan struct{})
	job := func(context.Context) {
		defer close(done)
		fn(ctx)
	}
	select {
	case a.exclusive <- job:
	case <-ctx.Done():
		return ctx.Err()
	}
	<-done
	return ctx.Err()
}

// resync merges events and brings Watcher in line for the records they
// touch (and for extra records named by a reconciliation).
type resync struct {
	a    *Applier
	opts ReplayOptions
	// overlay keeps a dry run's merged records across batches, since
	// nothing is written to the store.
	overlay *overlay
	// cause names the run in the audit lines: "replay" (the default) or
	// "reconcile".
	cause string
	// drift is what a reconciliation found, by store key (camera key or
	// extraSubscriber+id), for the audit lines.
	drift map[string]Drift
}

// auditCause is why the run writes the record at key: the reconciliation's
// finding, or the replay and the newest event replayed for the record.
func (rs *resync) auditCause(key string, touched []*request) auditCause {
	if rs.cause == "reconcile" {
		c := auditCause{kind: "reconcile"} // no finding: resent with its subscriber
		if d, ok := rs.drift[key]; ok {
			c.problem = d.Problem
			for _, f := range d.Diff {
				c.changed = append(c.changed, f.Field)
			}
		}
		return c
	}
	c := auditCause{kind: "replay"}
	if len(touched) > 0 {
		c.ev = &touched[len(touched)-1].ev
	}
	return c
}

type resyncStats struct{ merged, stale, invalid int }

// run handles one batch: evs, plus the cameras and subscribers named in
// extra (reconcile).
func (rs *resync) run(ctx context.Context, evs []events.Envelope, extra ...string) (changes []Change, st resyncStats, err error) {
	ferr := rs.a.exclusively(ctx, func(ctx context.Context) {
		changes, st, err = rs.batch(ctx, evs, extra)
	})
	if err == nil {
		err = ferr
	}
	return changes, st, err
}

// extraSubscriber marks a subscriber id in run's extra list; other
// entries are camera keys.
const extraSubscriber = "\x00subscriber:"

func (rs *resync) batch(ctx context.Context, evs []events.Envelope, extra []string) ([]Change, resyncStats, error) {
	a := rs.a
	var st resyncStats
	var changes []Change
	now := a.now()
	cams := map[string]*work{}
	subs := map[string]*subWork{}
	var order, subOrder []string
	merged := map[string]bool{} // camera keys and subscriber ids a merge changed
	// direct are the subscribers named by an event or by extra; the others
	// are loaded only for their cameras' desired state.
	direct := map[string]bool{}
	var newEvents []*request // merged events not in the ledger yet
	touched := map[string][]*request{}

	err := a.db.View(func(tx *store.Tx) error {
		loadCam := func(key string) (*work, error) {
			if w := cams[key]; w != nil {
				return w, nil
			}
			rec, ok := rs.overlay.camera(key)
			if !ok {
				var err error
				if rec, ok, err = tx.Camera(key); err != nil {
					return nil, err
				}
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
			rec, ok := rs.overlay.subscriber(id)
			if !ok {
				var err error
				if rec, ok, err = tx.Subscriber(id); err != nil {
					return nil, err
				}
			}
			if !ok {
				rec = store.Subscriber{ID: id}
			}
			sw := &subWork{orig: rec.Clone(), rec: rec}
			subs[id] = sw
			subOrder = append(subOrder, id)
			return sw, nil
		}
		for _, ev := range evs {
			r := &request{ctx: ctx, ev: ev}
			if err := r.decode(a.cfg.Plans); err != nil {
				st.invalid++
				changes = append(changes, Change{Kind: "event", Key: ev.ID, Action: "error", Error: err.Error()})
				continue
			}
			seen := tx.Seen(ev.ID) || rs.overlay.seen(ev.ID)
			var ok bool
			if r.sub != "" {
				sw, err := loadSub(r.sub)
				if err != nil {
					return err
				}
				direct[r.sub] = true
				if ok = mergeSubscriber(&sw.rec, r); ok {
					sw.reqs = append(sw.reqs, r)
					if p, isProfile := r.payload.(*events.SubscriberProfile); isProfile && p.Password != "" && sw.rec.Profile.EventID == ev.ID {
						sw.password = p.Password
					}
					merged[extraSubscriber+r.sub] = true
				}
				touched[extraSubscriber+r.sub] = append(touched[extraSubscriber+r.sub], r)
			} else {
				w, err := loadCam(r.key)
				if err != nil {
					return err
				}
				if ok = merge(&w.rec, r); ok {
					merged[r.key] = true
				}
				touched[r.key] = append(touched[r.key], r)
			}
			if ok {
				st.merged++
				if !seen {
					newEvents = append(newEvents, r)
				}
			} else {
				st.stale++
			}
		}
		for _, key := range extra {
			if id, ok := strings.CutPrefix(key, extraSubscriber); ok {
				if _, err := loadSub(id); err != nil {
					return err
				}
				direct[id] = true
			} else if _, err := loadCam(key); err != nil {
				return err
			}
		}
		// Every camera of a touched subscriber is re-evaluated, and every
		// camera needs its subscriber's record.
		for _, id := range slices.Clone(subOrder) {
			if !direct[id] {
				continue
			}
			owned, err := tx.SubscriberCameras(id)
			if err != nil {
				return err
			}
			for _, c := range owned {
				if _, err := loadCam(c.Key()); err != nil {
					return err
				}
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
		return nil, st, fmt.Errorf("read state: %w", err)
	}

	// Users and folders.
	for _, id := range subOrder {
		sw := subs[id]
		if !direct[id] {
			continue
		}
		planned := rs.plannedSubscriber(sw)
		if len(planned) == 0 {
			continue
		}
		if rs.opts.DryRun {
			changes = append(changes, planned...)
			continue
		}
		sw.cause = rs.auditCause(extraSubscriber+id, touched[extraSubscriber+id])
		if rs.opts.Force {
			sw.rec.AppliedUser = nil
			for i := range sw.rec.Folders {
				sw.rec.Folders[i].Applied = "forced"
			}
		}
		if err := a.syncSubscriber(ctx, sw); err != nil {
			sw.err = err
			sw.rec = sw.orig.Clone()
			changes = append(changes, Change{Kind: "user", Key: id, Name: planned[0].Name, Action: "error", Error: err.Error()})
			continue
		}
		for i := range sw.rec.Folders { // what force did not resend keeps its mark
			if sw.rec.Folders[i].Applied == "forced" {
				sw.rec.Folders[i].Applied = sw.orig.Folders[i].Applied
			}
		}
		if sw.rec.AppliedUser == nil {
			sw.rec.AppliedUser = sw.orig.AppliedUser
		}
		changes = append(changes, planned...)
	}

	// Cameras.
	var rows []watcherclient.Camera
	var sending []*work
	var sendingKeys []string
	changeOf := map[*work]int{}
	for _, key := range order {
		w := cams[key]
		var sub *store.Subscriber
		if sw := subs[w.rec.SubscriberID()]; sw != nil {
			sub = &sw.rec
		}
		desired, ready, err := DesiredState(w.rec, sub, DesiredConfig{Unassigned: a.cfg.Unassigned, Plans: a.cfg.Plans})
		if err != nil {
			changes = append(changes, Change{Kind: "camera", Key: displayKey(key), Action: "error", Error: err.Error()})
			w.err = err
			continue
		}
		if !ready {
			rs.overlay.forget("camera:" + key)
			continue
		}
		w.desired = desired
		hash, masked := fingerprint(desired)
		if w.rec.Applied != nil && w.rec.Applied.Hash == hash && !rs.opts.Force {
			rs.overlay.forget("camera:" + key)
			continue
		}
		c := Change{Kind: "camera", Key: displayKey(key), Name: desired.Name, Action: "update", Diff: fieldDiff(w.rec.Applied, masked)}
		if w.rec.Applied == nil {
			c.Action = "create"
		}
		if rs.opts.DryRun {
			rs.overlay.change("camera:"+key, c)
			continue
		}
		w.send = true
		w.hash, w.masked = hash, masked
		rows = append(rows, desired)
		sending = append(sending, w)
		sendingKeys = append(sendingKeys, key)
		changeOf[w] = len(changes)
		changes = append(changes, c)
	}
	if rs.opts.DryRun {
		rs.overlay.keep(cams, subs, newEvents)
		for _, c := range changes {
			if c.Kind == "user" || c.Kind == "folder" {
				rs.overlay.change(c.Kind+":"+c.Key+":"+c.Name, c)
			} else {
				rs.overlay.change("event:"+c.Key, c)
			}
		}
		return nil, st, nil
	}
	a.send(ctx, rows, sending)
	for i, w := range sending {
		if w.err == nil {
			rs.auditCamera(sendingKeys[i], w, touched[sendingKeys[i]])
		}
	}
	for w, i := range changeOf {
		if w.err != nil {
			changes[i].Action, changes[i].Error = "error", w.err.Error()
		}
	}
	for _, id := range subOrder {
		if sw := subs[id]; sw.err == nil {
			rs.a.recordSuspension(sw, cams)
		}
	}

	err = a.db.Update(func(tx *store.Tx) error {
		for _, key := range order {
			w := cams[key]
			sent := w.send && w.err == nil
			if !sent && !merged[key] {
				continue
			}
			rec := w.rec
			if sent {
				evID := "replay"
				if rs := touched[key]; len(rs) > 0 {
					evID = rs[len(rs)-1].ev.ID
				}
				rec.Applied = &store.Applied{Hash: w.hash, Fields: w.masked, EventID: evID, At: now}
			}
			outcome := "replayed: unchanged"
			if sent {
				outcome = "replayed: applied"
			}
			for _, r := range touched[key] {
				if merged[key] || sent {
					rec.Touch(store.EventRef{ID: r.ev.ID, Type: r.ev.Type, Time: r.ev.Time, Outcome: outcome})
				}
			}
			if err := tx.PutCamera(rec); err != nil {
				return err
			}
		}
		for _, id := range subOrder {
			sw := subs[id]
			if sw.err != nil {
				continue
			}
			for _, r := range touched[extraSubscriber+id] {
				if merged[extraSubscriber+id] {
					sw.rec.Touch(store.EventRef{ID: r.ev.ID, Type: r.ev.Type, Time: r.ev.Time, Outcome: "replayed"})
				}
			}
			before, _ := json.Marshal(sw.orig)
			after, _ := json.Marshal(sw.rec)
			if string(before) == string(after) {
				continue
			}
			if err := tx.PutSubscriber(sw.rec); err != nil {
				return err
			}
		}
		for _, r := range newEvents {
			if err := tx.MarkSeen(r.ev.ID, now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return changes, st, fmt.Errorf("commit state: %w", err)
	}
	return changes, st, nil
}

// auditCamera logs one camera the run sent to Watcher, before its record
// takes the new applied state.
func (rs *resync) auditCamera(key string, w *work, touched []*request) {
	cause := rs.auditCause(key, touched)
	e, msg := rs.a.auditLine(cause, "camera", displayKey(key))
	if e == nil {
		return
	}
	prev, action := w.rec.Applied, "update"
	if prev == nil {
		action = "create"
	}
	var changed []string
	switch cause.problem {
	case "different": // what Watcher held differently
		changed = slices.Clone(cause.changed)
	case "missing": // all of it
		changed = changedFields(nil, w.hash, w.masked)
	default:
		changed = changedFields(prev, w.hash, w.masked)
	}
	if changed == nil {
		changed = []string{}
	}
	e.Str("action", action).Str("camera", w.desired.Name).Strs("changed", changed).Bool("forced", rs.opts.Force).Msg(msg)
}

// plannedSubscriber lists the user and folder calls the subscriber needs.
func (rs *resync) plannedSubscriber(sw *subWork) []Change {
	rec := &sw.rec
	ps := rs.a.cfg.Plans
	var out []Change
	if u, hash, ok := desiredUser(rec, ps); ok && (rec.UserID == 0 || rec.AppliedUser == nil || rec.AppliedUser.Hash != hash || rs.opts.Force) {
		c := Change{Kind: "user", Key: rec.ID, Name: u.Login, Action: "update", Diff: []FieldDiff{
			{Field: "name", To: u.Name},
			{Field: "organization_id", To: fmt.Sprint(*u.OrganizationID)},
			{Field: "enabled", To: fmt.Sprint(*u.Enabled)},
			{Field: "readonly", To: fmt.Sprint(*u.Readonly)},
		}}
		if rec.UserID == 0 {
			c.Action = "create"
		}
		out = append(out, c)
	}
	if rec.UserID == 0 && len(out) == 0 {
		return out
	}
	for _, g := range rec.Folders {
		want := folderWanted(rec, g, ps)
		if g.Applied == folderHash(g, want, rec.UserID) && !rs.opts.Force {
			continue
		}
		if !want && g.Applied == "" && !rs.opts.Force {
			continue
		}
		c := Change{Kind: "folder", Key: rec.ID, Name: fmt.Sprintf("folder %d of organization %d", g.FolderID, g.OrganizationID), Action: "revoke"}
		if want {
			c.Action = "grant"
			c.Diff = []FieldDiff{{Field: "can_view_dvr", To: fmt.Sprint(g.CanViewDVR)}, {Field: "can_use_ptz", To: fmt.Sprint(g.CanUsePTZ)}}
		}
		out = append(out, c)
	}
	return out
}

// fieldDiff lists the fields of the masked desired state that differ from
// what was last applied.
func fieldDiff(prev *store.Applied, masked json.RawMessage) []FieldDiff {
	var now, before map[string]any
	_ = json.Unmarshal(masked, &now)
	if prev != nil {
		_ = json.Unmarshal(prev.Fields, &before)
	}
	var out []FieldDiff
	for k, v := range now {
		b, had := before[k]
		if !had || fmt.Sprint(b) != fmt.Sprint(v) {
			d := FieldDiff{Field: k, To: fmt.Sprint(v)}
			if had {
				d.From = fmt.Sprint(b)
			}
			out = append(out, d)
		}
	}
	for k, b := range before {
		if _, ok := now[k]; !ok {
			out = append(out, FieldDiff{Field: k, From: fmt.Sprint(b)})
		}
	}
	slices.SortFunc(out, func(x, y FieldDiff) int { return strings.Compare(x.Field, y.Field) })
	return out
}

// displayKey shows a store key without the NUL prefix of added cameras.
func displayKey(key string) string {
	if id, ok := strings.CutPrefix(key, store.AddedKey("")); ok {
		return "camera_id " + id
	}
	return key
}

// overlay is a dry run's memory: records as merged so far, events merged,
// and the change each object would get, by object.
type overlay struct {
	cams    map[string]store.Camera
	subs    map[string]store.Subscriber
	events  map[string]bool
	pending map[string]Change
	order   []string
}

func newOverlay() *overlay {
	return &overlay{cams: map[string]store.Camera{}, subs: map[string]store.Subscriber{}, events: map[string]bool{}, pending: map[string]Change{}}
}

func (o *overlay) camera(key string) (store.Camera, bool) {
	if o == nil {
		return store.Camera{}, false
	}
	c, ok := o.cams[key]
	return c, ok
}

func (o *overlay) subscriber(id string) (store.Subscriber, bool) {
	if o == nil {
		return store.Subscriber{}, false
	}
	s, ok := o.subs[id]
	return s.Clone(), ok
}

func (o *overlay) seen(id string) bool { return o != nil && o.events[id] }

func (o *overlay) keep(cams map[string]*work, subs map[string]*subWork, evs []*request) {
	for k, w := range cams {
		o.cams[k] = w.rec
	}
	for id, sw := range subs {
		o.subs[id] = sw.rec.Clone()
	}
	for _, r := range evs {
		o.events[r.ev.ID] = true
	}
}

func (o *overlay) change(key string, c Change) {
	if o == nil {
		return
	}
	if _, ok := o.pending[key]; !ok {
		o.order = append(o.order, key)
	}
	o.pending[key] = c
}

func (o *overlay) forget(key string) {
	if o != nil {
		delete(o.pending, key)
	}
}

func (o *overlay) changes() []Change {
	out := []Change{}
	for _, k := range o.order {
		if c, ok := o.pending[k]; ok {
			out = append(out, c)
			delete(o.pending, k) // a key may be in order twice
		}
	}
	return out
}
