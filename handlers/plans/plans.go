// Package plans reads the plans file: how each billing plan maps to a
// Watcher preset and to the rules the bridge applies for it (PTZ allowed
// or not, what a suspension for non-payment changes, the archive depth the
// preset should have).
package plans

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	yamlv3 "gopkg.in/yaml.v3"
	"sigs.k8s.io/yaml"
)

// Policy is what payment.overdue changes in Watcher, one of the four
// options of Flussonic's billing integration guide.
type Policy string

// Suspension policies.
const (
	// DisableUser sets the subscriber's user enabled: false.
	DisableUser Policy = "disable_user"
	// DisableCameras disables every camera of the subscriber.
	DisableCameras Policy = "disable_cameras"
	// ReadonlyAndDisableCameras makes the user read-only (no editing of
	// cameras) and disables the cameras.
	ReadonlyAndDisableCameras Policy = "readonly_and_disable_cameras"
	// RevokeFolders removes the subscriber's permissions on the folders of
	// shared cameras (intercoms, city cameras).
	RevokeFolders Policy = "revoke_folders"
)

// Policies lists every valid policy.
func Policies() []Policy {
	return []Policy{DisableUser, DisableCameras, ReadonlyAndDisableCameras, RevokeFolders}
}

// Valid tells whether p is one of Policies.
func (p Policy) Valid() bool { return slices.Contains(Policies(), p) }

// DisablesUser tells whether the policy sets the user enabled: false.
func (p Policy) DisablesUser() bool { return p == DisableUser }

// ReadonlyUser tells whether the policy makes the user read-only.
func (p Policy) ReadonlyUser() bool { return p == ReadonlyAndDisableCameras }

// DisablesCameras tells whether the policy disables the subscriber's cameras.
func (p Policy) DisablesCameras() bool {
	return p == DisableCameras || p == ReadonlyAndDisableCameras
}

// RevokesFolders tells whether the policy revokes folder permissions.
func (p Policy) RevokesFolders() bool { return p == RevokeFolders }

// Plan is the Watcher side of one billing plan.
type Plan struct {
	// ID is billing's plan id (the key in the file).
	ID string `json:"-"`
	// PresetID is the Watcher preset every camera of the plan gets. It may
	// be left out when PresetTitle is given: the bridge then looks the
	// preset up by its exact title at start-up.
	PresetID int64 `json:"preset_id,omitempty"`
	// PresetTitle is the preset's title; `presets sync` creates a missing
	// preset under it.
	PresetTitle string `json:"preset_title,omitempty"`
	// PTZAllowed false forces can_ptz off on the plan's cameras whatever
	// the camera reports; true (the default) sends the camera's own value,
	// or true when its activation gives none, so a camera moved from a
	// plan forbidding PTZ gets it back.
	PTZAllowed *bool `json:"ptz_allowed,omitempty"`
	// Suspension is what payment.overdue does for subscribers of the plan.
	Suspension Policy `json:"suspension"`
	// DVRDepth is the archive depth in days the preset should have;
	// `presets sync` sets it. Nil leaves the preset's depth alone.
	DVRDepth *float64 `json:"dvr_depth,omitempty"`
}

// PTZ reports whether the plan lets subscribers use PTZ.
func (p Plan) PTZ() bool { return p.PTZAllowed == nil || *p.PTZAllowed }

// Set is a loaded, validated plans file.
type Set struct {
	// DefaultSuspension is the policy used for a subscriber whose plan is
	// not known when a payment becomes overdue.
	DefaultSuspension Policy
	plans             map[string]Plan
}

// file is the document as written.
type file struct {
	DefaultSuspension Policy                     `json:"default_suspension,omitempty"`
	Plans             map[string]json.RawMessage `json:"plans"`
}

// Error is a problem in the plans file: which plan, which field, why.
type Error struct {
	Plan   string // empty for the file as a whole
	Field  string
	Reason string
}

func (e *Error) Error() string {
	switch {
	case e.Plan == "" && e.Field == "":
		return "plans file: " + e.Reason
	case e.Plan == "":
		return fmt.Sprintf("plans file: %s: %s", e.Field, e.Reason)
	case e.Field == "":
		return fmt.Sprintf("plans file: plan %q: %s", e.Plan, e.Reason)
	}
	return fmt.Sprintf("plans file: plan %q: %s: %s", e.Plan, e.Field, e.Reason)
}

// MaxFileBytes bounds a plans file.
const MaxFileBytes = 4 << 20

// Load reads a plans file in YAML or JSON (JSON is YAML). Every problem
// found is returned, joined, each naming its plan and field.
func Load(r io.Reader) (*Set, error) {
	raw, err := io.ReadAll(io.LimitReader(r, MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read plans file: %w", err)
	}
	if len(raw) > MaxFileBytes {
		return nil, &Error{Reason: fmt.Sprintf("larger than %d bytes", MaxFileBytes)}
	}
	if err := checkPlanKeys(raw); err != nil {
		return nil, err
	}
	js, err := yaml.YAMLToJSON(raw)
	if err != nil {
		return nil, &Error{Reason: "not YAML or JSON: " + err.Error()}
	}
	var f file
	if err := strictDecode(js, &f); err != nil {
		return nil, &Error{Reason: describeDecode(err)}
	}
	return f.validate()
}

// yaml11Scalar matches the plain scalars YAML 1.1 (the reader behind
// YAMLToJSON) reads as booleans, null or numbers, some of which YAML 1.2
// reads as strings: a plan keyed `no:` would silently become plan "false".
var yaml11Scalar = regexp.MustCompile(`^(?:` +
	`y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF|~|null|Null|NULL|` +
	`[-+]?0b[01_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+|` +
	`[-+]?(?:[0-9][0-9_]*)?\.[0-9.]*(?:[eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$`)

// plainDecimal is a key every YAML reader keeps as written.
var plainDecimal = regexp.MustCompile(`^(?:0|[1-9][0-9]*)$`)

// checkPlanKeys refuses a plan key that YAML would read as something other
// than the string written (y, no, on, off, null, 1.0, 0x10, a date): the
// plan would get another id than the one billing sends. Quoted keys (and
// so every JSON key) are taken as written. A document this check cannot
// parse is left to the decoder, which reports it.
func checkPlanKeys(raw []byte) error {
	var doc yamlv3.Node
	if yamlv3.Unmarshal(raw, &doc) != nil || len(doc.Content) == 0 || doc.Content[0].Kind != yamlv3.MappingNode {
		return nil
	}
	root := doc.Content[0]
	var errs []error
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value != "plans" || root.Content[i+1].Kind != yamlv3.MappingNode {
			continue
		}
		plans := root.Content[i+1]
		for j := 0; j < len(plans.Content); j += 2 {
			k := plans.Content[j]
			if k.Kind != yamlv3.ScalarNode || k.Style&(yamlv3.DoubleQuotedStyle|yamlv3.SingleQuotedStyle|yamlv3.LiteralStyle|yamlv3.FoldedStyle) != 0 {
				continue
			}
			if plainDecimal.MatchString(k.Value) || (k.ShortTag() == "!!str" && !yaml11Scalar.MatchString(k.Value)) {
				continue
			}
			errs = append(errs, &Error{Plan: k.Value, Reason: fmt.Sprintf("YAML reads this unquoted key as a boolean, null, number or date, not as the plan id %q: quote it (\"%s\": ...)", k.Value, k.Value)})
		}
	}
	return errors.Join(errs...)
}

// strictDecode refuses unknown keys: a misspelt key must not silently
// mean "default".
func strictDecode(js []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// LoadFile reads the plans file at path.
func LoadFile(path string) (*Set, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--plans: %w", err)
	}
	defer fh.Close()
	s, err := Load(fh)
	if err != nil {
		return nil, fmt.Errorf("--plans %s: %w", path, err)
	}
	return s, nil
}

func describeDecode(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return fmt.Sprintf("%s: got a JSON %s, want %s", te.Field, te.Value, te.Type)
	}
	msg := err.Error()
	if strings.Contains(msg, "unknown field") {
		return msg + " (known: default_suspension, plans; per plan: preset_id, preset_title, ptz_allowed, suspension, dvr_depth)"
	}
	return msg
}

func (f file) validate() (*Set, error) {
	s := &Set{DefaultSuspension: f.DefaultSuspension, plans: make(map[string]Plan, len(f.Plans))}
	var errs []error
	if s.DefaultSuspension == "" {
		s.DefaultSuspension = DisableUser
	} else if !s.DefaultSuspension.Valid() {
		errs = append(errs, &Error{Field: "default_suspension", Reason: policyReason(s.DefaultSuspension)})
	}
	if len(f.Plans) == 0 {
		errs = append(errs, &Error{Field: "plans", Reason: "no plans: map each billing plan id to its preset"})
	}
	for _, id := range slices.Sorted(maps.Keys(f.Plans)) {
		var p Plan
		if err := strictDecode(f.Plans[id], &p); err != nil {
			errs = append(errs, &Error{Plan: id, Reason: describeDecode(err)})
			continue
		}
		p.ID = id
		bad := func(field, reason string) { errs = append(errs, &Error{Plan: id, Field: field, Reason: reason}) }
		switch {
		case strings.TrimSpace(id) == "":
			bad("", "empty plan id")
		case strings.TrimSpace(id) != id || !utf8.ValidString(id) || len(id) > 256:
			bad("", "plan ids must be valid UTF-8 of at most 256 bytes, without leading or trailing spaces")
		}
		if p.PresetID < 0 {
			bad("preset_id", "negative")
		}
		if p.PresetID == 0 && strings.TrimSpace(p.PresetTitle) == "" {
			bad("preset_id", "missing: give preset_id (or preset_title, looked up in Watcher by exact title)")
		}
		if !utf8.ValidString(p.PresetTitle) || len(p.PresetTitle) > 1024 {
			bad("preset_title", "must be valid UTF-8 of at most 1024 bytes")
		}
		switch {
		case p.Suspension == "":
			bad("suspension", "missing: "+policyList())
		case !p.Suspension.Valid():
			bad("suspension", policyReason(p.Suspension))
		}
		if d := p.DVRDepth; d != nil && (*d < 0 || math.IsNaN(*d) || math.IsInf(*d, 0) || *d > 36500) {
			bad("dvr_depth", fmt.Sprintf("%v days: want a number of days from 0 to 36500", *d))
		}
		s.plans[id] = p
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return s, nil
}

func policyList() string {
	names := make([]string, 0, 4)
	for _, p := range Policies() {
		names = append(names, string(p))
	}
	return "want one of " + strings.Join(names, ", ")
}

func policyReason(p Policy) string {
	return fmt.Sprintf("%q is not a suspension policy: %s", string(p), policyList())
}

// Get returns the plan with billing id id.
func (s *Set) Get(id string) (Plan, bool) {
	if s == nil {
		return Plan{}, false
	}
	p, ok := s.plans[id]
	return p, ok
}

// IDs lists the plan ids, sorted.
func (s *Set) IDs() []string {
	if s == nil {
		return nil
	}
	return slices.Sorted(maps.Keys(s.plans))
}

// Len is the number of plans.
func (s *Set) Len() int {
	if s == nil {
		return 0
	}
	return len(s.plans)
}

// UnknownError is an event naming a plan the plans file does not have.
// It is permanent: the event goes to the dead letters with this reason.
type UnknownError struct {
	Plan   string
	Loaded bool // false when the bridge runs without --plans
}

func (e *UnknownError) Error() string {
	if !e.Loaded {
		return fmt.Sprintf("unknown plan %q: the bridge runs without a plans file (--plans)", e.Plan)
	}
	return fmt.Sprintf("unknown plan %q: it is not in the plans file (--plans); add it and publish the event again", e.Plan)
}

// Permanent marks the error as one retrying cannot fix.
func (e *UnknownError) Permanent() bool { return true }

// Lookup returns the plan or an *UnknownError naming it.
func (s *Set) Lookup(id string) (Plan, error) {
	if p, ok := s.Get(id); ok {
		return p, nil
	}
	return Plan{}, &UnknownError{Plan: id, Loaded: s != nil}
}

// Unresolved lists the plans that name their preset only by title.
func (s *Set) Unresolved() []Plan {
	var out []Plan
	for _, id := range s.IDs() {
		if p := s.plans[id]; p.PresetID == 0 {
			out = append(out, p)
		}
	}
	return out
}

// Resolve fills in the preset ids of plans that name their preset only by
// title, from byTitle (exact titles of Watcher's presets). Every title
// that is missing or ambiguous is reported.
func (s *Set) Resolve(byTitle map[string][]int64) error {
	var errs []error
	for _, p := range s.Unresolved() {
		ids := byTitle[p.PresetTitle]
		switch len(ids) {
		case 1:
			p.PresetID = ids[0]
			s.plans[p.ID] = p
		case 0:
			errs = append(errs, &Error{Plan: p.ID, Field: "preset_title", Reason: fmt.Sprintf("no Watcher preset is titled %q: run `watcherbridge presets sync` to create it, or give preset_id", p.PresetTitle)})
		default:
			errs = append(errs, &Error{Plan: p.ID, Field: "preset_title", Reason: fmt.Sprintf("%d Watcher presets are titled %q (ids %v): give preset_id", len(ids), p.PresetTitle, ids)})
		}
	}
	return errors.Join(errs...)
}
