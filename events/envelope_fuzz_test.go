package events

import (
	"testing"
)

// FuzzDecodeEnvelope: no input, in either mode, crashes the decoder, and
// whatever it accepts is a valid envelope that encodes and decodes again.
func FuzzDecodeEnvelope(f *testing.F) {
	f.Add([]byte(`{"specversion":"1.0","id":"e1","source":"urn:billing","type":"camera.assigned","time":"2026-01-01T00:00:00Z","subject":"SN","data":{"agent_serial":"SN","organization_id":"2","preset_id":3}}`), "")
	f.Add([]byte(`{"agent_serial":"SN","organization_id":2,"preset_id":3}`), "1.0")
	f.Add([]byte(`not json`), "")
	f.Add([]byte(`{"specversion":"1.0","id":"x","source":"s","type":"t","time":"2026-01-01T00:00:00Z","data":{}} {}`), "")
	f.Add([]byte(`[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]`), "1.0")
	f.Fuzz(func(t *testing.T, body []byte, specversion string) {
		hdr := map[string]string{"ce-specversion": specversion, "ce-id": "e", "ce-source": "s", "ce-type": "camera.assigned", "ce-time": "2026-01-01T00:00:00Z"}
		env, err := Decode(body, func(k string) string { return hdr[k] })
		if err != nil {
			return
		}
		if err := env.Validate(); err != nil {
			t.Fatalf("Decode accepted an invalid envelope: %v", err)
		}
		enc, err := env.Encode()
		if err != nil {
			t.Fatalf("accepted envelope does not encode: %v", err)
		}
		if _, err := Decode(enc, nil); err != nil {
			t.Fatalf("re-decoding the encoded envelope: %v", err)
		}
		var a Assignment
		_ = env.DecodeData(&a)
		_ = a.Validate()
	})
}
