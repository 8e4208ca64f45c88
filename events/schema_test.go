package events_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/invopop/jsonschema"
	orderedmap "github.com/pb33f/ordered-map/v2"
	sjson "github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/watcherbridge/watcherbridge/events"
	"github.com/watcherbridge/watcherbridge/events/activation"
)

// Regenerate with `go generate ./events` (or go test ./events -run
// TestSchemasAreCurrent -update-schemas).
var updateSchemas = flag.Bool("update-schemas", false, "rewrite events/schema/*.json from the Go types")

const schemaBase = "https://github.com/watcherbridge/watcherbridge/raw/main/events/schema/"

func payloadOf(t *testing.T, typ string) any {
	t.Helper()
	if typ == events.CameraActivated {
		return &activation.Row{}
	}
	p, ok := events.NewPayload(typ)
	if !ok {
		t.Fatalf("no payload for %s", typ)
	}
	return p
}

// envelopeSchema is the JSON Schema of a whole CloudEvents envelope of typ,
// with the payload's schema as data.
func envelopeSchema(typ string, payload any) *jsonschema.Schema {
	r := &jsonschema.Reflector{
		DoNotReference:            true,
		AllowAdditionalProperties: true, // billing may send more than this version reads
		Mapper: func(t reflect.Type) *jsonschema.Schema {
			if t == reflect.TypeOf(events.ID(0)) {
				return &jsonschema.Schema{
					Description: "a Watcher id: a positive integer, as a JSON number or a numeric string",
					OneOf: []*jsonschema.Schema{
						{Type: "integer"},
						{Type: "string", Pattern: "^[0-9]+$"},
					},
				}
			}
			return nil
		},
	}
	data := r.Reflect(payload)
	data.Version, data.ID = "", ""
	if alt, ok := requiredAlternatives[typ]; ok {
		var choices []*jsonschema.Schema
		for _, f := range alt.fields {
			choices = append(choices, &jsonschema.Schema{Required: []string{f}})
		}
		if alt.exclusive {
			data.OneOf = choices
		} else {
			data.AnyOf = choices
		}
	}
	one := uint64(1)
	maxID := uint64(256)
	props := orderedmap.New[string, *jsonschema.Schema]()
	props.Set("specversion", &jsonschema.Schema{Type: "string", Const: events.SpecVersion})
	props.Set("id", &jsonschema.Schema{Type: "string", MinLength: &one, MaxLength: &maxID, Description: "unique id of the event; the duplicate key (Nats-Msg-Id)"})
	props.Set("source", &jsonschema.Schema{Type: "string", MinLength: &one, Description: "the producing system, e.g. urn:billing"})
	props.Set("type", &jsonschema.Schema{Type: "string", Const: typ})
	props.Set("time", &jsonschema.Schema{Type: "string", Format: "date-time", Description: "when the fact became true in billing; it decides ordering"})
	props.Set("subject", &jsonschema.Schema{Type: "string", Description: "the camera serial or id, or the subscriber id"})
	props.Set("datacontenttype", &jsonschema.Schema{Type: "string", Pattern: "json"})
	props.Set("data", data)
	return &jsonschema.Schema{
		Version:     "https://json-schema.org/draft/2020-12/schema",
		ID:          jsonschema.ID(schemaBase + typ + ".json"),
		Title:       typ,
		Description: "A " + typ + " event for watcherbridge: a CloudEvents 1.0 envelope in structured JSON mode, published on the NATS subject " + typ + " or POSTed to /events.",
		Type:        "object",
		Required:    []string{"specversion", "id", "source", "type", "time", "data"},
		Properties:  props,
	}
}

// requiredAlternatives are the "give one of these fields" rules of the Go
// validation, which struct tags cannot express: exclusive means exactly
// one (oneOf), else at least one (anyOf).
var requiredAlternatives = map[string]struct {
	fields    []string
	exclusive bool
}{
	events.CameraAssigned:   {fields: []string{"preset_id", "plan_id"}},
	events.CameraAdded:      {fields: []string{"preset_id", "plan_id"}},
	events.CameraUnassigned: {fields: []string{"agent_serial", "camera_id"}, exclusive: true},
}

// TestSchemasRequireOneOfAlternatives checks that the schema and the Go
// validation agree on data giving none, one or both of the alternatives.
func TestSchemasRequireOneOfAlternatives(t *testing.T) {
	tests := []struct {
		typ  string
		give string
		ok   bool
	}{
		{typ: events.CameraUnassigned, give: `{}`},
		{typ: events.CameraUnassigned, give: `{"reason":"returned"}`},
		{typ: events.CameraUnassigned, give: `{"agent_serial":"SN-1"}`, ok: true},
		{typ: events.CameraUnassigned, give: `{"camera_id":"CAM-1"}`, ok: true},
		{typ: events.CameraUnassigned, give: `{"agent_serial":"SN-1","camera_id":"CAM-1"}`},
		{typ: events.CameraAssigned, give: `{"agent_serial":"SN-1","organization_id":2}`},
		{typ: events.CameraAssigned, give: `{"agent_serial":"SN-1","organization_id":2,"plan_id":"basic"}`, ok: true},
		{typ: events.CameraAssigned, give: `{"agent_serial":"SN-1","organization_id":2,"preset_id":3,"plan_id":"basic"}`, ok: true},
		{typ: events.CameraAdded, give: `{"camera_id":"C","stream_url":"rtsp://h/x","organization_id":2}`},
		{typ: events.CameraAdded, give: `{"camera_id":"C","stream_url":"rtsp://h/x","organization_id":2,"preset_id":3}`, ok: true},
	}
	for _, tt := range tests {
		t.Run(tt.typ+" "+tt.give, func(t *testing.T) {
			raw := []byte(`{"specversion":"1.0","id":"e1","source":"urn:billing","type":"` + tt.typ + `","time":"2026-01-01T00:00:00Z","data":` + tt.give + `}`)
			schemaErr := compileSchema(t, tt.typ).Validate(decodeAny(t, raw))
			env, goErr := events.Decode(raw, nil)
			if goErr == nil {
				_, goErr = events.DecodePayload(env)
			}
			if (schemaErr == nil) != tt.ok || (goErr == nil) != tt.ok {
				t.Errorf("schema error %v, Go error %v, want valid=%v for both", schemaErr, goErr, tt.ok)
			}
		})
	}
}

func TestSchemasAreCurrent(t *testing.T) {
	for _, typ := range events.Topics() {
		s := envelopeSchema(typ, payloadOf(t, typ))
		want, err := json.MarshalIndent(s, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, '\n')
		path := filepath.Join("schema", typ+".json")
		if *updateSchemas {
			if err := os.WriteFile(path, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s is not current (%v): run go generate ./events", path, err)
		}
	}
}

func compileSchema(t *testing.T, typ string) *sjson.Schema {
	t.Helper()
	c := sjson.NewCompiler()
	c.AssertFormat()
	f, err := os.Open(filepath.Join("schema", typ+".json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := sjson.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.AddResource(schemaBase+typ+".json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(schemaBase + typ + ".json")
	if err != nil {
		t.Fatalf("compile schema of %s: %v", typ, err)
	}
	return s
}

func decodeAny(t *testing.T, b []byte) any {
	t.Helper()
	v, err := sjson.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestExamplesMatchSchemasAndTypes checks that every example (the README's)
// is valid for its schema and for the Go types, and that breaking a
// required field is caught by both.
func TestExamplesMatchSchemasAndTypes(t *testing.T) {
	for _, typ := range events.Topics() {
		t.Run(typ, func(t *testing.T) {
			s := compileSchema(t, typ)
			raw, err := os.ReadFile(filepath.Join("testdata", "examples", typ+".json"))
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Validate(decodeAny(t, raw)); err != nil {
				t.Errorf("example fails its schema: %v", err)
			}
			env, err := events.Decode(raw, nil)
			if err != nil {
				t.Fatalf("example is not a valid envelope: %v", err)
			}
			if typ != events.CameraActivated {
				if _, err := events.DecodePayload(env); err != nil {
					t.Errorf("example payload is refused: %v", err)
				}
			}

			var m map[string]any
			if err := json.Unmarshal(raw, &m); err != nil {
				t.Fatal(err)
			}
			data := m["data"].(map[string]any)
			for _, field := range requiredOf(t, typ) {
				saved := data[field]
				delete(data, field)
				broken, _ := json.Marshal(m)
				if err := s.Validate(decodeAny(t, broken)); err == nil {
					t.Errorf("schema accepts data without %s", field)
				}
				if typ != events.CameraActivated {
					env, err := events.Decode(broken, nil)
					if err == nil {
						_, err = events.DecodePayload(env)
					}
					if err == nil || !strings.Contains(err.Error(), field) {
						t.Errorf("Go accepts data without %s (err %v)", field, err)
					}
				}
				data[field] = saved
			}
			m["type"] = "camera.unknown"
			broken, _ := json.Marshal(m)
			if err := s.Validate(decodeAny(t, broken)); err == nil {
				t.Errorf("schema accepts another type")
			}
		})
	}
}

func requiredOf(t *testing.T, typ string) []string {
	t.Helper()
	s := envelopeSchema(typ, payloadOf(t, typ))
	d, _ := s.Properties.Get("data")
	return d.Required
}

func TestNewEventRefusesInvalidPayloads(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		give func() (events.Envelope, error)
		want string
	}{
		{name: "unassigned without camera", give: func() (events.Envelope, error) {
			return events.NewCameraUnassigned("", time.Time{}, events.CameraUnassignment{})
		}, want: "agent_serial"},
		{name: "unassigned with both", give: func() (events.Envelope, error) {
			return events.NewCameraUnassigned("", time.Time{}, events.CameraUnassignment{AgentSerial: "A", CameraID: "B"})
		}, want: "not both"},
		{name: "added without stream", give: func() (events.Envelope, error) {
			return events.NewCameraAdded("", time.Time{}, events.CameraAddition{CameraID: "c", OrganizationID: 1, PresetID: 1})
		}, want: "stream_url"},
		{name: "added with a bad url", give: func() (events.Envelope, error) {
			return events.NewCameraAdded("", time.Time{}, events.CameraAddition{CameraID: "c", StreamURL: "10.0.0.1", OrganizationID: 1, PresetID: 1})
		}, want: "stream_url"},
		{name: "added without preset or plan", give: func() (events.Envelope, error) {
			return events.NewCameraAdded("", time.Time{}, events.CameraAddition{CameraID: "c", StreamURL: "rtsp://h/x", OrganizationID: 1})
		}, want: "plan_id"},
		{name: "subscriber without login", give: func() (events.Envelope, error) {
			return events.NewSubscriberCreated("", time.Time{}, events.SubscriberProfile{SubscriberID: "S", OrganizationID: 1})
		}, want: "login"},
		{name: "subscriber without org", give: func() (events.Envelope, error) {
			return events.NewSubscriberUpdated("", time.Time{}, events.SubscriberProfile{SubscriberID: "S", Login: "l"})
		}, want: "organization_id"},
		{name: "folder without folder", give: func() (events.Envelope, error) {
			return events.NewFolderGranted("", time.Time{}, events.FolderAccess{SubscriberID: "S", OrganizationID: 1})
		}, want: "folder_id"},
		{name: "plan without plan", give: func() (events.Envelope, error) {
			return events.NewPlanChanged("", time.Time{}, events.PlanChange{SubscriberID: "S"})
		}, want: "plan_id"},
		{name: "payment without subscriber", give: func() (events.Envelope, error) {
			return events.NewPaymentOverdue("", time.Time{}, events.Payment{})
		}, want: "subscriber_id"},
		{name: "deleted with control characters", give: func() (events.Envelope, error) {
			return events.NewSubscriberDeleted("", time.Time{}, events.SubscriberDeletion{SubscriberID: "S\x00"})
		}, want: "control"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := tt.give()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestConstructorsSetSubjectAndType(t *testing.T) {
	t.Parallel()
	env, err := events.NewPlanChanged("e1", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), events.PlanChange{SubscriberID: "SUB-1", PlanID: "gold"})
	if err != nil {
		t.Fatal(err)
	}
	if env.Type != events.PlanChanged || env.Subject != "SUB-1" || env.ID != "e1" {
		t.Errorf("envelope %+v", env)
	}
	p, err := events.DecodePayload(env)
	if err != nil {
		t.Fatal(err)
	}
	if pc, ok := p.(*events.PlanChange); !ok || pc.PlanID != "gold" {
		t.Errorf("payload %#v", p)
	}
	if _, err := events.NewEvent(events.PlanChanged, "", time.Time{}, &events.Payment{SubscriberID: "S"}); err == nil {
		t.Errorf("NewEvent accepted a payment as plan.changed")
	}
}
