package events

import (
	"strings"
	"testing"
)

func TestStreamDriftNamesMissingAtomicBatches(t *testing.T) {
	t.Parallel()
	want := StreamConfig(1)
	old := want
	old.AllowAtomicPublish = false

	d := streamDrift(old, want)
	if len(d) != 1 || !strings.Contains(d[0], "atomic batch") || !strings.Contains(d[0], "nats stream edit BILLING --allow-batch") || !strings.Contains(d[0], `"allow_atomic": true`) {
		t.Errorf("drift of a BILLING stream without allow_atomic: %q, want one line naming the --allow-batch fix", d)
	}
	if d := streamDrift(want, want); len(d) != 0 {
		t.Errorf("drift of the stream the bridge creates: %q, want none", d)
	}
	// DEADLETTER does not need batches: one that has them is no drift.
	dlq := DeadLetterStreamConfig(1, DuplicateWindow)
	batched := dlq
	batched.AllowAtomicPublish = true
	if d := streamDrift(batched, dlq); len(d) != 0 {
		t.Errorf("drift of a DEADLETTER stream with allow_atomic: %q, want none", d)
	}
}
