package activation

import "testing"

// A row's id is its deduplication key in JetStream and in the bridge's
// ledger: if it changed between versions, a push re-sent across an upgrade
// would be taken as new. The value was computed by the first
// implementation (fmt into the hash).
func TestRowIDIsStableAcrossVersions(t *testing.T) {
	ptz := true
	r := Row{AgentSerial: "SN-0001", AgentID: "ag-1", AgentKey: "ak-1", AgentModel: "IRIS A100",
		StreamURL: "rtsp://10.0.0.1:554/main", PTZ: &ptz, AbonentSign: "7000000001"}
	if got, want := r.ID(), "act-776c78674269a101b4aa430fce7dec24"; got != want {
		t.Fatalf("row id %s, want %s", got, want)
	}
}
