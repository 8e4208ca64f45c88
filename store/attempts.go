package store

import (
	"encoding/json"
	"time"

	bolt "go.etcd.io/bbolt"
)

var bucketAttempts = []byte("attempts")

// MaxAttempts bounds the history kept per message.
const MaxAttempts = 20

// Attempt is one failed delivery of a message.
type Attempt struct {
	Delivery uint64    `json:"delivery"`
	At       time.Time `json:"at"`
	Error    string    `json:"error"`
}

// RecordAttempt appends a failed delivery to the history of message key
// (its stream and sequence), so that a message finally dead-lettered
// carries every failure, not only the last.
func (db *DB) RecordAttempt(key string, a Attempt) error {
	if len(a.Error) > 300 {
		a.Error = a.Error[:300] + "…"
	}
	return db.bolt.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketAttempts)
		if err != nil {
			return err
		}
		var hist []Attempt
		if raw := b.Get([]byte(key)); raw != nil {
			_ = json.Unmarshal(raw, &hist)
		}
		hist = append(hist, a)
		if n := len(hist); n > MaxAttempts {
			hist = hist[n-MaxAttempts:]
		}
		raw, err := json.Marshal(hist)
		if err != nil {
			return err
		}
		return b.Put([]byte(key), raw)
	})
}

// Attempts returns the failed deliveries recorded for key, oldest first.
func (db *DB) Attempts(key string) ([]Attempt, error) {
	var hist []Attempt
	err := db.bolt.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketAttempts)
		if b == nil {
			return nil
		}
		if raw := b.Get([]byte(key)); raw != nil {
			return json.Unmarshal(raw, &hist)
		}
		return nil
	})
	return hist, err
}

// ForgetAttempts drops the history of key once the message is done with.
func (db *DB) ForgetAttempts(key string) error {
	// Looked up first: most redelivered events have nothing recorded
	// (they came back after a restart, not after a failure), and an
	// Update that changes nothing still costs a commit and an fsync,
	// once per message of the pulling goroutine (events.PullConfig.Skip).
	var recorded bool
	if err := db.bolt.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketAttempts)
		recorded = b != nil && b.Get([]byte(key)) != nil
		return nil
	}); err != nil || !recorded {
		return err
	}
	return db.bolt.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketAttempts)
		if b == nil || b.Get([]byte(key)) == nil {
			return nil
		}
		return b.Delete([]byte(key))
	})
}
