package watchertest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/watcherbridge/watcherbridge/watcherclient"
)

// Fault describes misbehaviour to inject into API requests (never into
// /_fake/ paths). A request is hit when its path matches PathPrefix, the
// Count budget is not spent and the Rate draw succeeds; a hit is delayed by
// Latency, then dropped (Reset), answered with Status, or passed on with
// RowError applied to imports. Faults act before authentication.
type Fault struct {
	Status     int           `json:"status,omitempty"`      // e.g. 503, 429, 400; 0 = answer normally
	RetryAfter int           `json:"retry_after,omitempty"` // seconds, sent as Retry-After with Status
	Rate       float64       `json:"rate,omitempty"`        // 0..1 probability of a hit; 0 means every matching request
	Count      int           `json:"count,omitempty"`       // hit only the next Count matching requests; 0 = unlimited
	Latency    time.Duration `json:"latency,omitempty"`     // delay before answering; JSON takes "250ms" or nanoseconds
	PathPrefix string        `json:"path_prefix,omitempty"` // relative to /vsaas/api/v2, e.g. "/cameras/import"; empty = all
	Body       string        `json:"body,omitempty"`        // reply body for Status; a JSON error object when empty
	Reset      bool          `json:"reset,omitempty"`       // drop the connection without answering
	// RowError maps a camera name to a message: an import row with that name
	// is not applied and is reported in the reply's errors under its index.
	RowError map[string]string `json:"row_error,omitempty"`
}

// UnmarshalJSON accepts latency as a Go duration string or nanoseconds, so
// shell scripts can post {"latency":"2s"}.
func (f *Fault) UnmarshalJSON(b []byte) error {
	type plain Fault
	var w struct {
		plain
		Latency json.RawMessage `json:"latency"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*f = Fault(w.plain)
	if len(w.Latency) == 0 || string(w.Latency) == "null" {
		return nil
	}
	var s string
	if json.Unmarshal(w.Latency, &s) == nil {
		d, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("latency: %w", err)
		}
		f.Latency = d
		return nil
	}
	var ns int64
	if err := json.Unmarshal(w.Latency, &ns); err != nil {
		return fmt.Errorf("latency: want a duration like \"250ms\": %w", err)
	}
	f.Latency = time.Duration(ns)
	return nil
}

// Validate reports settings that cannot work, for callers taking faults
// from flags or JSON.
func (f Fault) Validate() error {
	switch {
	case f.Status != 0 && (f.Status < 100 || f.Status > 599):
		return fmt.Errorf("fault status %d is not an HTTP status", f.Status)
	case f.Rate < 0 || f.Rate > 1:
		return fmt.Errorf("fault rate %g is outside 0..1", f.Rate)
	case f.Count < 0 || f.RetryAfter < 0 || f.Latency < 0:
		return errors.New("fault count, retry_after and latency must not be negative")
	case f.PathPrefix != "" && !strings.HasPrefix(f.PathPrefix, "/"):
		return fmt.Errorf("fault path prefix %q must start with / (relative to %s)", f.PathPrefix, watcherclient.APIPrefix)
	}
	return nil
}

type faultState struct {
	active    bool
	f         Fault
	remaining int
}

// SetFault replaces the current fault injection.
func (s *Server) SetFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault = faultState{active: true, f: f, remaining: f.Count}
	s.logf("fakewatcher: fault set: %+v", f)
}

// ClearFault stops fault injection.
func (s *Server) ClearFault() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault = faultState{}
}

func (s *Server) postFault(w http.ResponseWriter, r *http.Request) {
	var f Fault
	err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&f)
	if err == nil {
		err = f.Validate()
	}
	if err != nil {
		writeJSON(w, http.StatusBadRequest, apiError("BadRequest", err.Error()))
		return
	}
	s.SetFault(f)
	writeJSON(w, http.StatusOK, f)
}

// take decides whether the request to rel is hit, spending Count.
func (s *Server) take(rel string) (Fault, bool) {
	fs := &s.fault
	switch {
	case !fs.active || !strings.HasPrefix(rel, fs.f.PathPrefix):
		return Fault{}, false
	case fs.f.Count > 0 && fs.remaining <= 0:
		return Fault{}, false
	case fs.f.Rate > 0 && rand.Float64() >= fs.f.Rate:
		return Fault{}, false
	}
	if fs.f.Count > 0 {
		fs.remaining--
	}
	return fs.f, true
}

type rowErrorKey struct{}

// faults counts API requests and applies the current fault before next
// (routing, authentication) sees the request.
func (s *Server) faults(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rel := strings.TrimPrefix(r.URL.Path, watcherclient.APIPrefix)
		s.mu.Lock()
		s.stats.Requests++
		f, hit := s.take(rel)
		s.mu.Unlock()
		if !hit {
			next.ServeHTTP(w, r)
			return
		}
		if f.Latency > 0 {
			t := time.NewTimer(f.Latency)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				return
			}
		}
		switch {
		case f.Reset:
			s.logf("fakewatcher: fault: dropping connection for %s %s", r.Method, r.URL.Path)
			if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
				conn.Close()
				return
			}
			panic(http.ErrAbortHandler) // HTTP/2: abort the stream instead
		case f.Status > 0:
			s.logf("fakewatcher: fault: HTTP %d for %s %s", f.Status, r.Method, r.URL.Path)
			writeFault(w, f)
		case len(f.RowError) > 0:
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), rowErrorKey{}, f.RowError)))
		default:
			next.ServeHTTP(w, r)
		}
	})
}

func writeFault(w http.ResponseWriter, f Fault) {
	if f.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(f.RetryAfter))
	}
	if f.Body == "" {
		writeJSON(w, f.Status, apiError(faultCode(f.Status), fmt.Sprintf("fault injected by fakewatcher: HTTP %d", f.Status)))
		return
	}
	ct := "text/plain; charset=utf-8"
	if json.Valid([]byte(f.Body)) {
		ct = "application/json"
	}
	w.Header().Set("Content-Type", ct)
	w.WriteHeader(f.Status)
	w.Write([]byte(f.Body))
}

func faultCode(status int) string {
	switch {
	case status == http.StatusBadRequest:
		return "BadRequest"
	case status == http.StatusForbidden:
		return "Forbidden"
	case status == http.StatusNotFound:
		return "NotFound"
	case status >= 500:
		return "ApplicationError"
	}
	return strings.ReplaceAll(http.StatusText(status), " ", "")
}

// rowErrors returns the RowError map of a hit fault, if any.
func rowErrors(r *http.Request) map[string]string {
	m, _ := r.Context().Value(rowErrorKey{}).(map[string]string)
	return m
}
