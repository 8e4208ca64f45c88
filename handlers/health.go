package handlers

import (
	"context"
	"net/http"
	"time"
)

// Check is one readiness condition; it returns why it is not met.
type Check struct {
	Name string
	Fn   func(ctx context.Context) error
}

// Healthz answers 200 while the process serves HTTP at all.
func Healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "alive"})
}

// Readyz answers 200 when every check passes, else 503 naming each failing
// check and why, so a probe's log tells the operator what to fix.
func Readyz(checks ...Check) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		failing := map[string]string{}
		for _, c := range checks {
			if err := c.Fn(ctx); err != nil {
				failing[c.Name] = err.Error()
			}
		}
		if len(failing) > 0 {
			writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "not ready", "failing": failing})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	}
}
