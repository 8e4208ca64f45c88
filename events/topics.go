// Package events defines the billing events the bridge consumes: their
// CloudEvents envelope, their typed payloads, the JetStream stream and
// consumers that carry them, and the glue between NATS and Watermill.
package events

import (
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Topics. A topic is the NATS subject and the CloudEvents type at once, so an
// operator reading `nats stream view` sees the same names as in our logs.
const (
	CameraActivated         = "camera.activated"
	CameraAssigned          = "camera.assigned"
	CameraUnassigned        = "camera.unassigned"
	CameraAdded             = "camera.added"
	SubscriberCreated       = "subscriber.created"
	SubscriberUpdated       = "subscriber.updated"
	SubscriberDeleted       = "subscriber.deleted"
	SubscriberFolderGranted = "subscriber.folder_granted"
	SubscriberFolderRevoked = "subscriber.folder_revoked"
	PlanChanged             = "plan.changed"
	PaymentOverdue          = "payment.overdue"
	PaymentReceived         = "payment.received"
)

// Stream names and the subjects the bridge owns.
const (
	// Stream holds every billing subject; one stream keeps the duplicate
	// window (Nats-Msg-Id) shared by ingest, inventory and billing.
	Stream = "BILLING"
	// DeadLetterStream holds what the worker gave up on and ingest rows that
	// can never be applied. It is a separate stream because deduplication is
	// per stream: a dead letter keeping its event id would be dropped as a
	// duplicate of the original inside BILLING.
	DeadLetterStream = "DEADLETTER"
	// DeadLetterPrefix starts every dead-letter subject: deadletter.<topic>.
	DeadLetterPrefix = "deadletter."
	// RejectedSubject carries activation rows that failed validation.
	RejectedSubject = DeadLetterPrefix + "ingest.rejected"
)

// DuplicateWindow is how long JetStream remembers a Nats-Msg-Id. Two hours
// covers an activation server that retries a push for a long time after a
// timeout; the bbolt ledger catches anything older.
const DuplicateWindow = 2 * time.Hour

// Topics lists every topic the worker consumes; each gets its durable
// consumer.
func Topics() []string {
	return []string{CameraActivated, CameraAssigned, CameraUnassigned, CameraAdded,
		SubscriberCreated, SubscriberUpdated, SubscriberDeleted, SubscriberFolderGranted, SubscriberFolderRevoked,
		PlanChanged, PaymentOverdue, PaymentReceived}
}

// BillingTopics lists the topics billing publishes (every topic but
// camera.activated, which comes from the activation server through ingest).
func BillingTopics() []string {
	return Topics()[1:]
}

// StreamConfig is the BILLING stream as the bridge creates it when missing.
// deploy/nats/ holds the same definition for operators who provision streams
// themselves.
func StreamConfig(replicas int) jetstream.StreamConfig {
	if replicas < 1 {
		replicas = 1
	}
	return jetstream.StreamConfig{
		Name:        Stream,
		Description: "watcherbridge: billing and activation events",
		Subjects:    []string{"camera.>", "subscriber.>", "plan.>", "payment.>"},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		MaxAge:      90 * 24 * time.Hour,
		Duplicates:  DuplicateWindow,
		Replicas:    replicas,
		Discard:     jetstream.DiscardOld,
		// Ingest publishes a push as atomic batches: with SyncAlways the
		// server stores a whole batch with one fsync instead of one per
		// row (see Publisher).
		AllowAtomicPublish: true,
	}
}

// DeadLetterStreamConfig is the DEADLETTER stream; maxAge is the retention
// the operator chose.
func DeadLetterStreamConfig(replicas int, maxAge time.Duration) jetstream.StreamConfig {
	if replicas < 1 {
		replicas = 1
	}
	return jetstream.StreamConfig{
		Name:        DeadLetterStream,
		Description: "watcherbridge: dead letters and rejected ingest rows",
		Subjects:    []string{DeadLetterPrefix + ">"},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		MaxAge:      maxAge,
		// Set, not left to the server's default, so an existing stream
		// the bridge made compares equal; it dedupes a dead letter stored
		// twice by a crash between storing it and acking the original.
		Duplicates: dlqDuplicates(maxAge),
		Replicas:   replicas,
		// No AllowAtomicPublish: a push has few rejected rows, and dead
		// letters come one at a time, so batches would save little.
	}
}

// ConsumerName is the durable consumer of a topic, e.g.
// watcherbridge_camera_activated. Dots are not allowed in consumer names.
func ConsumerName(topic string) string {
	return "watcherbridge_" + strings.ReplaceAll(topic, ".", "_")
}

// DeadLetterSubject is where a message of topic goes when it is given up on.
func DeadLetterSubject(topic string) string {
	return DeadLetterPrefix + topic
}

func dlqDuplicates(maxAge time.Duration) time.Duration {
	if maxAge > 0 && maxAge < DuplicateWindow {
		return maxAge
	}
	return DuplicateWindow
}
