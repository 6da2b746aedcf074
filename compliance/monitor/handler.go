package monitor

import (
	"encoding/json"
	"net/http"
)

// Handler serves every job's status as JSON: 200 when none is overdue, 503
// otherwise, so an uptime checker can watch the watcher. No registered job
// at all is 503 too, as in Check: a switch that watches nothing proves
// nothing.
func (m *Monitor) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sts, err := m.Status(r.Context())
		if err != nil {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusInternalServerError)
			_ = json.NewEncoder(w).Encode(map[string]any{"type": "about:blank", "title": "Job status unavailable", "status": 500,
				"detail": "the job status could not be read"})
			return
		}
		overdue := 0
		for _, s := range sts {
			if s.Overdue {
				overdue++
			}
		}
		healthy := overdue == 0 && len(sts) > 0
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		if !healthy {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_ = json.NewEncoder(w).Encode(struct {
			Healthy bool        `json:"healthy"`
			Overdue int         `json:"overdue"`
			Jobs    []JobStatus `json:"jobs"`
		}{healthy, overdue, sts})
	})
}
