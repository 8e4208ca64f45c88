package activation

import (
	"strings"
	"testing"
)

// fuzzLimits keeps MaxRows small so the row bound is exercised.
func fuzzLimits() Limits { return Limits{MaxRows: 20, MaxBodyBytes: 1 << 20} }

// checkParse asserts the properties Parse keeps on any input.
func checkParse(t *testing.T, give, contentType string) {
	lim := fuzzLimits()
	res, err := Parse(strings.NewReader(give), contentType, lim)
	if err != nil {
		if _, ok := err.(*BodyError); !ok {
			t.Fatalf("Parse error %v is not a *BodyError", err)
		}
		return
	}
	if n := len(res.Rows) + len(res.Rejected); n > lim.MaxRows+1 {
		t.Fatalf("got %d rows and rejections, more than MaxRows+1 = %d", n, lim.MaxRows+1)
	}
	for _, p := range res.Rows {
		if err := p.Row.Validate(); err != nil {
			t.Fatalf("row %d does not pass Validate: %v", p.Index, err)
		}
	}
	hasKey := strings.Contains(give, sampleKey)
	for _, r := range res.Rejected {
		if hasKey && strings.Contains(r.Reason, sampleKey) {
			t.Fatalf("reason of row %d shows agent_key: %q", r.Index, r.Reason)
		}
		if len(r.Raw) > MaxRawBytes {
			t.Fatalf("raw of row %d is %d bytes, over %d", r.Index, len(r.Raw), MaxRawBytes)
		}
	}
}

func fuzzSeeds(f *testing.F, format string) {
	for _, tt := range parseCases() {
		if tt.wantFormat == format {
			f.Add(tt.give)
		}
	}
	for _, tt := range bodyCases() {
		f.Add(tt.give)
	}
}

func FuzzParseCSV(f *testing.F) {
	fuzzSeeds(f, FormatCSV)
	f.Add(lines("agent_serial,agent_key,agent_model", "S1,"+sampleKey+`,"Cam`, "S2,"+sampleKey+",Cam"))
	f.Fuzz(func(t *testing.T, give string) {
		checkParse(t, give, "text/csv")
		checkParse(t, give, "")
	})
}

func FuzzParseJSON(f *testing.F) {
	fuzzSeeds(f, FormatJSON)
	f.Add(`[{"agent_key":"` + sampleKey + `","agent_pin":1234,"x":{"AGENT_KEY":["` + sampleKey + `"]}}]`)
	f.Fuzz(func(t *testing.T, give string) {
		checkParse(t, give, "application/json")
		checkParse(t, give, "")
	})
}
