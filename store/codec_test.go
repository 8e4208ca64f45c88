package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/watcherbridge/watcherbridge/events/activation"
)

// fill sets every field reachable from v to a random non-zero value, so
// that a field the codec forgets fails the round trip.
func fill(t *testing.T, r *rand.Rand, v reflect.Value) {
	t.Helper()
	switch v.Interface().(type) {
	case time.Time:
		ns := r.Int64N(1<<62) - 1<<61 + timeBase
		v.Set(reflect.ValueOf(time.Unix(0, ns).UTC()))
		return
	case json.RawMessage:
		v.SetBytes(json.RawMessage(sampleFields[r.IntN(len(sampleFields))]))
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		for i := range v.NumField() {
			fill(t, r, v.Field(i))
		}
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(t, r, v.Elem())
	case reflect.Slice:
		n := 1 + r.IntN(3)
		v.Set(reflect.MakeSlice(v.Type(), n, n))
		for i := range v.Len() {
			fill(t, r, v.Index(i))
		}
	case reflect.String:
		v.SetString(randomString(r))
	case reflect.Int64:
		v.SetInt(r.Int64() - r.Int64())
	case reflect.Bool:
		v.SetBool(r.IntN(2) == 1)
	default:
		t.Fatalf("fill: no random value for %s: teach fill (and the codec) about it", v.Type())
	}
}

// randomString is one of the shapes stored strings take: ids with a hex
// tail, hex alone, arbitrary bytes, URLs sharing their start, and repeats
// of earlier picks.
func randomString(r *rand.Rand) string {
	var raw [24]byte
	for i := range raw {
		raw[i] = byte(r.Uint32())
	}
	switch r.IntN(8) {
	case 0:
		return "act-" + hex.EncodeToString(raw[:16])
	case 1:
		return hex.EncodeToString(raw[:8+r.IntN(16)])
	case 2:
		return string(raw[:1+r.IntN(len(raw)-1)])
	case 3:
		return staticStrings[r.IntN(len(staticStrings))]
	case 4:
		return "x" + hex.EncodeToString(raw[:8])[:15+r.IntN(2)] // a hex run one short, or odd
	case 5: // shares a head with others
		return "rtsp://10.20.0.1:554/"[:6+r.IntN(16)] + string(raw[:r.IntN(4)])
	case 6:
		return "http://10.20.0.1/snap"[:1+r.IntN(20)]
	}
	return "SN-" + strconv.Itoa(r.IntN(5)) // small, so that records repeat it
}

var sampleFields = []string{
	`{"abonent_sign":"7000000000","agent_id":"ag-1","agent_key":"***","can_ptz":true,"enabled":false,"name":"agent-sn-1","preset_id":3,"title":"IRIS A100 SN-1"}`,
	`{"name":"cam-x","title":"a \u0026 b","extrenal_id":"x","organization_id":12,"unknown_field":"v","nested":{"a":[1,2,{"b":"}"}]},"n":null}`,
	`{}`,
	`{"a":"\"quoted\"","b":"tab\there"}`,
	`not json at all`,
	`{"spaced": 1}`,
	`[1,2,3]`,
}

func TestCameraCodecRoundTrip(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 500 {
		var c Camera
		fill(t, r, reflect.ValueOf(&c).Elem())
		key := c.Key()
		switch i % 4 {
		case 0: // an Agent camera
			c.CameraID = ""
			key = c.Serial
		case 1: // a camera billing added
			c.Serial = ""
			key = AddedKey(c.CameraID)
		case 2: // both ids: keyed by the serial
		case 3: // stored under another key: never written so, kept anyway
			key = "elsewhere"
		}
		if key == "" {
			continue
		}
		raw := encodeCamera(key, c)
		got, err := decodeCamera(key, raw)
		if err != nil {
			t.Fatalf("decode of %+v: %v", c, err)
		}
		if !reflect.DeepEqual(got, c) {
			t.Fatalf("round trip changed the record:\n got %+v\nwant %+v", got, c)
		}
		sub, err := cameraSubscriber(key, raw)
		if err != nil || sub != c.SubscriberID() {
			t.Fatalf("subscriber read alone = %q, %v; want %q", sub, err, c.SubscriberID())
		}
		for n := 0; n < len(raw); n += 1 + r.IntN(16) {
			if _, err := decodeCamera(key, raw[:n]); err == nil {
				t.Fatalf("a record cut to %d of %d bytes decoded", n, len(raw))
			}
		}
	}
}

func TestCameraCodecKeepsEdgeTimes(t *testing.T) {
	t.Parallel()
	times := []time.Time{
		{},
		time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC), // past UnixNano's range
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Unix(0, timeBase).UTC(),
		time.Unix(0, 1).UTC(),
	}
	c := Camera{Serial: "SN"}
	for _, at := range times {
		c.Recent = append(c.Recent, EventRef{ID: "e", Time: at}, EventRef{ID: "e", Time: at})
	}
	got, err := decodeCamera("SN", encodeCamera("SN", c))
	if err != nil {
		t.Fatal(err)
	}
	for i, ev := range got.Recent {
		if want := c.Recent[i].Time; !ev.Time.Equal(want) {
			t.Errorf("time %d = %v, want %v", i, ev.Time, want)
		}
	}
}

// FuzzCameraFields: whatever bytes Applied.Fields holds come back
// unchanged, and no stored value makes the decoder panic.
func FuzzCameraFields(f *testing.F) {
	for _, s := range sampleFields {
		f.Add([]byte(s))
	}
	f.Add([]byte(benchFields(7)))
	f.Fuzz(func(t *testing.T, fields []byte) {
		c := Camera{Serial: "SN-1", Applied: &Applied{Hash: "h", Fields: fields}}
		raw := encodeCamera("SN-1", c)
		got, err := decodeCamera("SN-1", raw)
		if err != nil {
			t.Fatal(err)
		}
		if want := c.Applied.Fields; !bytes.Equal(got.Applied.Fields, want) || (len(want) == 0) != (got.Applied.Fields == nil) {
			t.Fatalf("fields %q came back as %q", want, got.Applied.Fields)
		}
		_, _ = decodeCamera("SN-1", append([]byte{recordCamera}, fields...))
	})
}

// benchCamera is camera i as `make bench` leaves it: activated with a
// full row and an abonent_sign, applied once, one event in its history.
func benchCamera(i int, at time.Time) Camera {
	ptz := i%3 == 0
	ip := fmt.Sprintf("10.%d.%d.%d", 20+i/65536, i/256%256, i%256)
	serial := fmt.Sprintf("BENCH-E2E-%07d", i)
	sum := sha256.Sum256([]byte(serial))
	id := "act-" + hex.EncodeToString(sum[:16])
	return Camera{
		Serial: serial,
		Activation: &Activation{Row: activation.Row{
			AgentSerial:  serial,
			AgentID:      fmt.Sprintf("ag-E2E-%07d", i),
			AgentKey:     fmt.Sprintf("ak-bench-E2E-%07d", i),
			AgentModel:   "IRIS A100",
			StreamURL:    "rtsp://" + ip + ":554/main",
			SubstreamURL: "rtsp://" + ip + ":554/sub",
			Thumbnails:   "http://" + ip + "/snap.jpg",
			OnvifURL:     "http://" + ip + "/onvif/device_service",
			OnvifProfile: "Profile_1",
			PTZ:          &ptz,
			AbonentSign:  strconv.Itoa(7_000_000_000 + i),
		}, EventID: id, Time: at},
		Applied: &Applied{Hash: hex.EncodeToString(sum[16:]), Fields: json.RawMessage(benchFields(i)), EventID: id, At: at.Add(73 * time.Second)},
		Recent:  []EventRef{{ID: id, Type: "camera.activated", Time: at, Outcome: "applied"}},
	}
}

// benchFields is the masked desired state handlers.fingerprint makes of
// benchCamera(i).
func benchFields(i int) string {
	ip := fmt.Sprintf("10.%d.%d.%d", 20+i/65536, i/256%256, i%256)
	sum := sha256.Sum256([]byte(strconv.Itoa(i)))
	return fmt.Sprintf(`{"abonent_sign":"%d","agent_id":"ag-E2E-%07d","agent_key":"***","agent_model":"IRIS A100","agent_serial":"BENCH-E2E-%07d",`+
		`"can_ptz":%t,"enabled":true,"name":"agent-bench-e2e-%07d-%x","onvif_profile":"Profile_1","onvif_ptz":%t,`+
		`"onvif_url":"http://%s/onvif/device_service","stream_url":"rtsp://%s:554/main","substream_url":"rtsp://%s:554/sub",`+
		`"thumbnails_url":"http://%s/snap.jpg","title":"IRIS A100 BENCH-E2E-%07d"}`,
		7_000_000_000+i, i, i, i%3 == 0, i, sum[:4], i%3 == 0, ip, ip, ip, ip, i)
}

func TestBenchCameraFieldsArePacked(t *testing.T) {
	t.Parallel()
	c := benchCamera(42, time.Now())
	js, _ := json.Marshal(c)
	raw := encodeCamera(c.Key(), c)
	t.Logf("bench camera: %d bytes as JSON, %d bytes binary", len(js), len(raw))
	if len(raw) > 400 {
		t.Errorf("bench camera takes %d bytes, want at most 400 (JSON took %d)", len(raw), len(js))
	}
	got, err := decodeCamera(c.Key(), raw)
	if err != nil || !bytes.Equal(got.Applied.Fields, c.Applied.Fields) {
		t.Fatalf("fields came back as %s, %v", got.Applied.Fields, err)
	}
}

// putBenchCameras writes n bench cameras and their ledger entries the way
// the applier does, in groups of 512 per transaction, and returns
// DB.Size: the pages up to the last in use, without the room bbolt adds
// when it grows the file (up to 16 MB, part of what `make bench` counts).
func putBenchCameras(tb testing.TB, n int) int64 {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "state.db")
	db, err := Open(path, Options{NoSync: true})
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	t0 := time.Date(2026, 12, 3, 18, 33, 30, 0, time.UTC)
	for start := 0; start < n; start += 512 {
		err := db.Update(func(tx *Tx) error {
			for i := start; i < min(start+512, n); i++ {
				c := benchCamera(i, t0.Add(time.Duration(i)))
				if tx.Seen(c.Activation.EventID) {
					return fmt.Errorf("event of camera %d seen before", i)
				}
				if _, _, err := tx.Camera(c.Key()); err != nil {
					return err
				}
				if err := tx.MarkSeen(c.Activation.EventID, c.Applied.At); err != nil {
					return err
				}
				if err := tx.PutCamera(c); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			tb.Fatal(err)
		}
	}
	return db.Size()
}

// TestBenchStoreSize keeps a generous bound on the bytes per camera of
// `make bench` (bbolt_bytes_per_camera was 2,020 with JSON records).
func TestBenchStoreSize(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 20,000 cameras")
	}
	const n = 20_000
	perCamera := float64(putBenchCameras(t, n)) / n
	t.Logf("%.0f bytes per camera", perCamera)
	if perCamera > 1000 {
		t.Errorf("%.0f bytes per camera, want under 1,000", perCamera)
	}
}

// TestAppendedCamerasFillPages: cameras added in key order leave full
// pages, even with a few cameras overtaken by later ones (concurrent
// handlers).
func TestAppendedCamerasFillPages(t *testing.T) {
	t.Parallel()
	db, _ := openTemp(t)
	t0 := time.Date(2026, 12, 3, 18, 33, 30, 0, time.UTC)
	const n, group = 20_000, 500
	put := func(ids []int) {
		t.Helper()
		if err := db.Update(func(tx *Tx) error {
			for _, i := range ids {
				if err := tx.PutCamera(benchCamera(i, t0)); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	fill := func() float64 {
		var st bolt.BucketStats
		_ = db.View(func(tx *Tx) error { st = tx.tx.Bucket(bucketCameras).Stats(); return nil })
		return float64(st.LeafInuse) / float64(st.LeafAlloc)
	}
	for start := 0; start < n; start += group {
		ids := make([]int, 0, group)
		for i := start; i < start+group; i++ {
			if i%group != group-2 { // overtaken: it comes with the next group
				ids = append(ids, i)
			}
		}
		if start > 0 {
			ids = append(ids, start-2)
		}
		put(ids)
	}
	if f := fill(); f < 0.85 {
		t.Errorf("appended cameras fill %.0f%% of their pages, want at least 85%%", 100*f)
	}
}

// BenchmarkPutCamera writes b.N bench cameras as the applier does; run it
// with -benchtime=100000x for the end-to-end benchmark's store.
func BenchmarkPutCamera(b *testing.B) {
	size := putBenchCameras(b, b.N)
	b.ReportMetric(float64(size)/float64(b.N), "bytes/camera")
}

func BenchmarkEncodeCamera(b *testing.B) {
	c := benchCamera(42, time.Now())
	b.Run("json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = json.Marshal(c)
		}
	})
	b.Run("binary", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = encodeCamera(c.Key(), c)
		}
	})
}

func BenchmarkDecodeCamera(b *testing.B) {
	c := benchCamera(42, time.Now())
	js, _ := json.Marshal(c)
	raw := encodeCamera(c.Key(), c)
	b.Run("json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var c Camera
			_ = json.Unmarshal(js, &c)
		}
	})
	b.Run("binary", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = decodeCamera(c.Key(), raw)
		}
	})
}
