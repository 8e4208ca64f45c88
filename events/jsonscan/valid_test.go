package jsonscan

import (
	"encoding/json"
	"strings"
	"testing"
)

var validCases = []string{
	`{}`, `[]`, ` {"a":[1,-0.5e+3,true,false,null,"x\u00e9\n"],"b":{}} `, `"s"`, `0`, `-1`, `1E9`,
	`{"a":1,}`, `[1,]`, `{"a"}`, `{"a":}`, `{,}`, `[,1]`, `01`, `1.`, `.5`, `-`, `1e`, `1e+`, `+1`,
	`tru`, `truex`, `nul`, `"\x"`, `"\u12g4"`, `"a` + "\x01" + `"`, `"open`, `{"a":1}}`, `[1]]`, `{"a":1]`,
	`[1}`, ``, ` `, `{"a":1} {}`, "\"\xff\xfe\"", `{"a" : [ { "b" : [ ] } , 2 ] }`, `[-]`, `[1 2]`,
	`{"a":1 "b":2}`, `"\u00"`, `{"\u0041":1}`, `[[[[]]]]`, `[[[[]]]`,
	strings.Repeat("[", maxDepth) + strings.Repeat("]", maxDepth),
	strings.Repeat("[", maxDepth+1) + strings.Repeat("]", maxDepth+1),
	strings.Repeat(`{"a":`, maxDepth) + "1" + strings.Repeat("}", maxDepth),
	strings.Repeat(`{"a":`, maxDepth+1) + "1" + strings.Repeat("}", maxDepth+1),
}

func TestValidAgreesWithEncodingJSON(t *testing.T) {
	for _, c := range validCases {
		if got, want := Valid([]byte(c)), json.Valid([]byte(c)); got != want {
			t.Errorf("Valid(%.60q) = %v, encoding/json says %v", c, got, want)
		}
	}
}

func FuzzValidAgreesWithEncodingJSON(f *testing.F) {
	for _, c := range validCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := Valid(b), json.Valid(b); got != want {
			t.Fatalf("Valid(%.200q) = %v, encoding/json says %v", b, got, want)
		}
	})
}

func BenchmarkValid(b *testing.B) {
	body := []byte(`{"specversion":"1.0","id":"act-0123456789abcdef","source":"watcherbridge/ingest","type":"camera.activated","subject":"SN-000123","time":"2026-12-04T10:00:00Z","datacontenttype":"application/json","data":{"agent_serial":"SN-000123","agent_key":"k-0123456789","agent_model":"M1","agent_vendor":"V","abonent_sign":"sub-1","activated_at":"2026-12-04T09:59:00Z","stream_url":"rtsp://10.0.0.1/s","extra":[1,2.5,true,null]}}`)
	b.Run("jsonscan", func(b *testing.B) {
		for b.Loop() {
			Valid(body)
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		for b.Loop() {
			json.Valid(body)
		}
	})
}
