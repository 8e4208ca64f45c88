package watchertest

import "maps"

// Stats counts what clients asked of the fake, so tests can assert
// idempotency ("a replayed event changes nothing") without inspecting logs.
type Stats struct {
	// Requests counts every API request, including ones answered by a fault.
	Requests int `json:"requests"`
	// Writes counts mutating requests that changed or created something;
	// an import counts once however many rows it applied.
	Writes int `json:"writes"`
	// Cameras counts changes per camera name.
	Cameras map[string]CameraStats `json:"cameras"`
	// Endpoints counts requests per route, e.g. "POST /cameras/import",
	// for requests that reached routing (not those answered by a fault).
	Endpoints map[string]int `json:"endpoints"`
}

// CameraStats counts the writes one camera name received.
type CameraStats struct {
	Created int `json:"created"`
	// Updated counts requested updates (an import row for an existing name,
	// or a PUT), even when no field changed.
	Updated int `json:"updated"`
	Deleted int `json:"deleted"`
}

func newStats() Stats {
	return Stats{Cameras: map[string]CameraStats{}, Endpoints: map[string]int{}}
}

// Stats returns a copy of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.stats
	out.Cameras = maps.Clone(s.stats.Cameras)
	out.Endpoints = maps.Clone(s.stats.Endpoints)
	return out
}

func (s *Server) countCamera(name string, f func(*CameraStats)) {
	cs := s.stats.Cameras[name]
	f(&cs)
	s.stats.Cameras[name] = cs
}
