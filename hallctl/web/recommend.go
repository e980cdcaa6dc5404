package web

import (
	"net/http"
	"strconv"

	"github.com/servicehall/servicehall/hallctl/ctl"
)

// Recommendations (推荐调整): ctl.Recommend searches candidate actions
// with the simulator; the manager console previews and applies them
// through /manager/preview and /manager/actions.
type (
	// RecommendResponse is the search's answer.
	RecommendResponse = ctl.RecommendResponse
	// Recommendation is one proposed change with its predicted effect.
	Recommendation = ctl.Recommendation
)

func (s *server) mountRecommend(api func(method, path, role string, h func(w http.ResponseWriter, r *http.Request, cl Claims))) {
	api("GET", "/api/v1/manager/recommendations", RoleManager, s.getRecommendations)
}

// getRecommendations answers the top three; ?horizon_min=N (default 120,
// at most 240) sets the projection's horizon.
func (s *server) getRecommendations(w http.ResponseWriter, r *http.Request, _ Claims) {
	var req ctl.RecommendRequest
	if v := r.URL.Query().Get("horizon_min"); v != "" {
		m, err := strconv.ParseFloat(v, 64)
		if err != nil || m <= 0 {
			writeProblem(w, "bad_request", "horizon_min: minutes, a positive number")
			return
		}
		req.HorizonS = m * 60
	}
	out, err := s.c.Recommend(r.Context(), req)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, 200, out)
}
