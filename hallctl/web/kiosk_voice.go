package web

import (
	"errors"
	"net/http"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/servicehall/servicehall/hallctl/ctl"
)

// Voice guidance on a kiosk (issue 11, elder mode):
//
//	GET  /api/v1/kiosk/voice?agent=kiosk-1 → {agent, speaker, prompts}
//	POST /api/v1/kiosk/speak {agent, prompt, number?, lang?} → 202
//
// Both need a kiosk token whose subject is the kiosk's agent id (hallctl
// token --role kiosk --subject kiosk-1), held by the kiosk browser as the
// sh_session cookie (the kiosk's setup sign-in, ?setup=1), or a manager or
// admin token. The page names a prompt from a fixed set (ctl.KioskPrompts),
// never text; the controller sends cmd/speak to that kiosk's own speaker.
// Without a speaker the page says voice guidance is unavailable.

// KioskSpeakRequest asks the kiosk's speaker for a prompt.
type KioskSpeakRequest struct {
	Agent  string `json:"agent"`
	Prompt string `json:"prompt"`
	Number string `json:"number,omitempty"` // for your_number
	Lang   string `json:"lang,omitempty"`   // zh (default) or en
}

// KioskVoice says whether the kiosk can speak.
type KioskVoice struct {
	Agent   string   `json:"agent"`
	Speaker bool     `json:"speaker"`
	Prompts []string `json:"prompts"`
}

func init() {
	problems["wrong_kiosk"] = problemText{403, "令牌未绑定此终端", "the kiosk token is bound to another kiosk agent"}
	problems["no_speaker"] = problemText{409, "本机没有可用的语音播报设备", "this kiosk has no speaker online"}
	problems["unknown_prompt"] = problemText{400, "没有这条语音提示", "unknown voice prompt"}
}

// kioskSpeakLimit: prompts per kiosk agent of each mounted server (a few
// per screen at most).
var kioskSpeakLimit = struct {
	mu sync.Mutex
	by map[speakKey]*rate.Limiter
}{by: map[speakKey]*rate.Limiter{}}

type speakKey struct {
	s     *server
	agent string
}

func (s *server) allowKioskSpeak(agent string) bool {
	kioskSpeakLimit.mu.Lock()
	defer kioskSpeakLimit.mu.Unlock()
	l, ok := kioskSpeakLimit.by[speakKey{s, agent}]
	if !ok {
		if len(kioskSpeakLimit.by) > 1000 {
			clear(kioskSpeakLimit.by)
		}
		l = rate.NewLimiter(rate.Every(2*time.Second), 5)
		kioskSpeakLimit.by[speakKey{s, agent}] = l
	}
	return l.Allow()
}

func (s *server) mountKioskVoice(api apiFunc) {
	api("GET", "/api/v1/kiosk/voice", RoleKiosk, s.getKioskVoice)
	api("POST", "/api/v1/kiosk/speak", RoleKiosk, s.postKioskSpeak)
}

// kioskAgent checks the token may act for the kiosk agent.
func kioskAgent(w http.ResponseWriter, cl Claims, agent string) bool {
	if agent == "" {
		writeProblem(w, "bad_request", "agent is required")
		return false
	}
	if cl.Role == RoleKiosk && cl.Subject != agent {
		writeProblem(w, "wrong_kiosk", "the token's subject is "+cl.Subject)
		return false
	}
	return true
}

func (s *server) getKioskVoice(w http.ResponseWriter, r *http.Request, cl Claims) {
	agent := r.URL.Query().Get("agent")
	if !kioskAgent(w, cl, agent) {
		return
	}
	_, ok := s.c.KioskSpeaker(agent)
	writeJSON(w, http.StatusOK, KioskVoice{Agent: agent, Speaker: ok, Prompts: ctl.KioskPromptIDs()})
}

func (s *server) postKioskSpeak(w http.ResponseWriter, r *http.Request, cl Claims) {
	var req KioskSpeakRequest
	if err := s.decode(r, &req); err != nil {
		writeErr(w, err)
		return
	}
	if !kioskAgent(w, cl, req.Agent) {
		return
	}
	if _, ok := ctl.KioskPrompts[req.Prompt]; !ok {
		writeProblem(w, "unknown_prompt", req.Prompt)
		return
	}
	if req.Number != "" && !numberRe.MatchString(req.Number) {
		writeProblem(w, "bad_request", "a ticket number looks like A012")
		return
	}
	if !s.allowKioskSpeak(req.Agent) {
		w.Header().Set("Retry-After", "2")
		writeProblem(w, "rate_limited", "voice prompts of this kiosk")
		return
	}
	err := s.c.KioskSpeak(r.Context(), req.Agent, req.Prompt, req.Number, req.Lang)
	switch {
	case errors.Is(err, ctl.ErrNoSpeaker):
		writeProblem(w, "no_speaker", "")
	case errors.Is(err, ctl.ErrUnknownTicketNumber):
		writeProblem(w, "unknown_ticket", req.Number)
	case err != nil:
		writeErr(w, err)
	default:
		writeJSON(w, http.StatusAccepted, map[string]string{"status": "queued"})
	}
}
