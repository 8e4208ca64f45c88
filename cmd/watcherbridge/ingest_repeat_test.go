package main

import (
	"fmt"
	"strings"
	"testing"
)

// A push may list the same camera twice with the same fields; the copy is
// a duplicate, counted in the reply, and the rest of the push is stored
// as usual.
func TestPushWithARepeatedRowCountsItAsDuplicate(t *testing.T) {
	_, url := fakeWatcher(t, false)
	b := startBridge(t, testConfig(t, url), "repeat")
	var sb strings.Builder
	sb.WriteString("agent_model,agent_serial,agent_id,agent_key,stream_url\n")
	for i := range 50 {
		fmt.Fprintf(&sb, "M,REP-%03d,ag-%d,ak-rep-%d,rtsp://10.70.0.%d:554/main\n", i, i, i, i)
	}
	sb.WriteString("M,REP-007,ag-7,ak-rep-7,rtsp://10.70.0.7:554/main\n")
	r := push(t, b, "text/csv", []byte(sb.String()))
	if r.Accepted != 50 || r.Duplicate != 1 || r.Rejected != 0 {
		t.Fatalf("reply %+v, want 50 accepted and 1 duplicate", r)
	}
	r = push(t, b, "text/csv", []byte(sb.String()))
	if r.Accepted != 0 || r.Duplicate != 51 {
		t.Fatalf("re-sent push: %+v, want 51 duplicates", r)
	}
}
