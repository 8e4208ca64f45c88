package handlers

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/watcherbridge/watcherbridge/handlers/plans"
	"github.com/watcherbridge/watcherbridge/store"
	"github.com/watcherbridge/watcherbridge/watcherclient"
)

// Unassigned says what happens to an activated camera billing has not
// assigned yet.
type Unassigned string

const (
	// Hold keeps the camera in the store until billing assigns it.
	Hold Unassigned = "hold"
	// Default sends it at once without owner fields, so Watcher puts it in
	// its default organization with the default preset.
	Default Unassigned = "default"
)

// ParseUnassigned validates the --unassigned flag.
func ParseUnassigned(s string) (Unassigned, error) {
	switch Unassigned(s) {
	case Hold, Default:
		return Unassigned(s), nil
	}
	return "", fmt.Errorf("--unassigned %q: want hold or default", s)
}

// CameraName is the Watcher stream name of a serial. It is derived, never
// stored, so every send of the same camera upserts the same Watcher object:
// lowercase letters, digits, '-', '_' and '.', prefixed so it cannot clash
// with names people give by hand. When that mapping loses information
// (case, other characters) a short hash of the exact serial keeps two
// serials from sharing a name.
func CameraName(serial string) string { return derivedName("agent-", serial) }

func derivedName(prefix, id string) string {
	var b strings.Builder
	b.WriteString(prefix)
	lossy := false
	for _, r := range id {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			b.WriteRune(r)
		case r >= 'A' && r <= 'Z':
			b.WriteRune(r + ('a' - 'A'))
			lossy = true
		default:
			b.WriteByte('-')
			lossy = true
		}
	}
	if lossy || b.Len() > 64 {
		name := b.String()
		if len(name) > 64 {
			name = name[:64]
		}
		sum := sha256.Sum256([]byte(id))
		return name + "-" + hex.EncodeToString(sum[:4])
	}
	return b.String()
}

// DesiredConfig is what a camera's desired state depends on beyond the
// records themselves.
type DesiredConfig struct {
	Unassigned Unassigned
	Plans      *plans.Set
}

// Desired is the Watcher camera a record should become, and whether the
// record is ready to be sent at all, for a camera whose subscriber and plan
// add nothing (see DesiredState).
func Desired(c store.Camera, unassigned Unassigned) (watcherclient.Camera, bool) {
	cam, ready, err := DesiredState(c, nil, DesiredConfig{Unassigned: unassigned})
	return cam, ready && err == nil
}

// DesiredState is the Watcher camera a record should become, and whether
// the record is ready to be sent at all. sub is the record of the camera's
// subscriber, nil when billing has said nothing about the subscriber yet.
// The error is permanent: the record names a plan the plans file lacks.
func DesiredState(c store.Camera, sub *store.Subscriber, cfg DesiredConfig) (watcherclient.Camera, bool, error) {
	var cam watcherclient.Camera
	switch {
	case c.Added != nil:
		cam = desiredAdded(c)
	case c.Activation != nil:
		var ok bool
		if cam, ok = desiredAgent(c, cfg.Unassigned); !ok {
			return cam, false, nil
		}
	default:
		return cam, false, nil // billing alone has no stream to give
	}
	if c.SubscriberID() == "" || (sub != nil && sub.ID != c.SubscriberID()) {
		sub = nil
	}
	plan, err := effectivePlan(c, sub, cfg.Plans)
	if err != nil {
		return cam, false, err
	}
	if plan != nil && cam.OrganizationID != nil {
		preset := plan.PresetID
		cam.PresetID = &preset
		// PTZ is always sent under a plan: import is an upsert, so a false
		// left by a plan forbidding PTZ would outlive a move to one
		// allowing it, and the result would depend on delivery order.
		// Allowed means the activation's value, or true when it gave none.
		ptz := plan.PTZ()
		if ptz && cam.CanPTZ != nil {
			ptz = *cam.CanPTZ
		}
		cam.CanPTZ, cam.OnvifPTZ = &ptz, &ptz
	}
	enabled := cameraEnabled(c, sub, cfg.Plans)
	cam.Enabled = &enabled
	return cam, true, nil
}

// cameraEnabled is false while any reason to disable the camera holds:
// billing took it back, its subscriber is deleted, or suspended by a
// policy that disables cameras. Lifting one reason leaves the others.
func cameraEnabled(c store.Camera, sub *store.Subscriber, ps *plans.Set) bool {
	if cameraUnassigned(c) {
		return false
	}
	if sub == nil {
		return true
	}
	if subscriberDeleted(sub) {
		return false
	}
	if pol, ok := suspensionPolicy(sub, ps); ok && pol.DisablesCameras() {
		return false
	}
	return true
}

// cameraUnassigned tells whether billing's last word on the camera's owner
// is camera.unassigned.
func cameraUnassigned(c store.Camera) bool {
	u := c.Unassigned
	if u == nil {
		return false
	}
	var t time.Time
	var id string
	switch {
	case c.Billing != nil:
		t, id = c.Billing.Time, c.Billing.EventID
	case c.Added != nil:
		t, id = c.Added.Time, c.Added.EventID
	default:
		return true
	}
	return later(u.Time, u.EventID, t, id)
}

// later orders (time, id) pairs like newer does for events.
func later(t1 time.Time, id1 string, t2 time.Time, id2 string) bool {
	if !t1.Equal(t2) {
		return t1.After(t2)
	}
	return id1 > id2
}

// effectivePlan is the plan deciding the camera's preset: the newer of the
// plan named for the camera itself and the subscriber's current plan; nil
// when neither names one (the explicit preset_id applies).
func effectivePlan(c store.Camera, sub *store.Subscriber, ps *plans.Set) (*plans.Plan, error) {
	var id, ev string
	var at time.Time
	switch {
	case c.Billing != nil && c.Billing.PlanID != "":
		id, ev, at = c.Billing.PlanID, c.Billing.EventID, c.Billing.Time
	case c.Added != nil && c.Added.PlanID != "":
		id, ev, at = c.Added.PlanID, c.Added.EventID, c.Added.Time
	}
	if sub != nil {
		if cur := sub.CurrentPlan(); cur != nil && (id == "" || later(cur.Time, cur.EventID, at, ev)) {
			id = cur.PlanID
		}
	}
	if id == "" {
		return nil, nil
	}
	p, err := ps.Lookup(id)
	if err != nil {
		return nil, &PermanentError{Reason: "camera " + c.Key() + " (" + c.SubscriberID() + ")", Err: err}
	}
	return &p, nil
}

// AddedCameraName is the Watcher name of a camera billing added without
// the Agent, derived from billing's camera id as CameraName is from a
// serial.
func AddedCameraName(cameraID string) string { return derivedName("cam-", cameraID) }

func desiredAdded(c store.Camera) watcherclient.Camera {
	a := c.Added
	org := a.OrganizationID
	cam := watcherclient.Camera{
		Name:           AddedCameraName(c.CameraID),
		Title:          a.Title,
		StreamURL:      a.StreamURL,
		SubstreamURL:   a.SubstreamURL,
		OnvifURL:       a.OnvifURL,
		OrganizationID: &org,
		ExternalID:     c.CameraID,
		Clear:          []string{"substream_url", "onvif_url"},
	}
	if cam.Title == "" {
		cam.Title = c.CameraID
	}
	if a.PresetID > 0 {
		preset := a.PresetID
		cam.PresetID = &preset
	}
	return cam
}

func desiredAgent(c store.Camera, unassigned Unassigned) (watcherclient.Camera, bool) {
	a := c.Activation
	owned := c.Billing != nil || a.Row.AbonentSign != ""
	if !owned && unassigned != Default {
		return watcherclient.Camera{}, false
	}
	row := a.Row
	cam := watcherclient.Camera{
		Name:         CameraName(c.Serial),
		Title:        row.AgentModel + " " + c.Serial,
		StreamURL:    row.StreamURL,
		SubstreamURL: row.SubstreamURL,
		OnvifURL:     row.OnvifURL,
		OnvifProfile: row.OnvifProfile,
		AgentSerial:  c.Serial,
		AgentID:      row.AgentID,
		AgentKey:     row.AgentKey,
		AgentModel:   row.AgentModel,
	}
	cam.Title = strings.TrimSpace(cam.Title)
	if row.Thumbnails != "" {
		cam.ThumbnailsURL = row.Thumbnails
	}
	// Fields activation owns are sent even when empty, so a camera
	// re-activated without them (handed to a new owner) loses the old
	// owner's values in Watcher.
	cam.Clear = []string{"substream_url", "thumbnails_url", "onvif_url", "onvif_profile", "agent_model"}
	if row.PTZ != nil {
		ptz := *row.PTZ
		cam.CanPTZ, cam.OnvifPTZ = &ptz, &ptz
	}
	if b := c.Billing; b != nil {
		org, preset := b.OrganizationID, b.PresetID
		cam.OrganizationID = &org
		if preset > 0 {
			cam.PresetID = &preset
		}
		if b.Title != "" {
			cam.Title = b.Title
		}
	} else if row.AbonentSign != "" {
		// The sign already tells Watcher who owns the camera.
		cam.AbonentSign = row.AbonentSign
	}
	return cam, true
}

// fingerprint is the hash of the whole desired state (secrets included, so a
// rotated agent_key counts as a change) and its masked form for display.
//
// MarshalJSON is called directly: json.Marshal would scan its (already
// compact) output again, a third of fingerprint's cost in the profile.
func fingerprint(cam watcherclient.Camera) (hash string, masked json.RawMessage) {
	full, _ := cam.MarshalJSON()
	sum := sha256.Sum256(full)
	if cam.AgentKey != "" {
		cam.AgentKey = "***"
	}
	masked, _ = cam.MarshalJSON()
	return hex.EncodeToString(sum[:16]), masked
}
