package events

import (
	"crypto/sha256"
	"encoding/hex"
)

// contentID hashes b into a short, stable event id with a readable prefix.
func contentID(prefix string, b []byte) string {
	sum := sha256.Sum256(b)
	return prefix + hex.EncodeToString(sum[:16])
}
