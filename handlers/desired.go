package handlers

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

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
func CameraName(serial string) string {
	var b strings.Builder
	b.WriteString("agent-")
	lossy := false
	for _, r := range serial {
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
		sum := sha256.Sum256([]byte(serial))
		return name + "-" + hex.EncodeToString(sum[:4])
	}
	return b.String()
}

// Desired is the Watcher camera a record should become, and whether the
// record is ready to be sent at all.
func Desired(c store.Camera, unassigned Unassigned) (watcherclient.Camera, bool) {
	a := c.Activation
	if a == nil {
		return watcherclient.Camera{}, false // billing alone has no stream to give
	}
	owned := c.Billing != nil || a.Row.AbonentSign != ""
	if !owned && unassigned != Default {
		return watcherclient.Camera{}, false
	}
	row := a.Row
	enabled := true
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
		Enabled:      &enabled,
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
func fingerprint(cam watcherclient.Camera) (hash string, masked json.RawMessage) {
	full, _ := json.Marshal(cam)
	sum := sha256.Sum256(full)
	if cam.AgentKey != "" {
		cam.AgentKey = "***"
	}
	masked, _ = json.Marshal(cam)
	return hex.EncodeToString(sum[:16]), masked
}
