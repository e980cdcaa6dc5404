package web

import (
	"sort"
	"time"

	"github.com/servicehall/servicehall/hallctl/queue"
)

// The clerk console's list of the tickets waiting for its window (the
// clerk route GET /api/v1/windows/{window}, field queue): only what that
// window may call — tickets of the items it serves, and tickets
// transferred to it — with number, item, class and minutes waited. No
// person, no ID hash, no masked name.

// maxClerkQueue bounds the list (the count, waiting, is exact).
const maxClerkQueue = 50

// WaitingTicket is one ticket in a window's waiting list.
type WaitingTicket struct {
	Number      string    `json:"number"`
	Item        string    `json:"item"`
	ItemName    string    `json:"item_name"`
	Class       string    `json:"class"`
	IssuedAt    time.Time `json:"issued_at"`
	WaitedS     float64   `json:"waited_s"`
	Transferred bool      `json:"transferred,omitempty"` // transferred to this window
	NoShows     int       `json:"no_shows,omitempty"`
	key         float64   // seconds: issue time minus the head start the ticket got
}

func (s *server) waitingTicket(t queue.TicketView, window int, now time.Time) WaitingTicket {
	cfg := s.c.Config()
	wt := WaitingTicket{Number: t.Number, Item: t.Item, Class: string(t.Class), IssuedAt: t.IssuedAt,
		WaitedS: max(0, now.Sub(t.IssuedAt).Seconds()), Transferred: t.Window == window, NoShows: t.NoShows}
	if it := cfg.Item(t.Item); it != nil {
		wt.ItemName = it.Name
	}
	// The engine's own head start for this ticket (under overload a share
	// of the line's longest wait, not only the class's fixed minutes).
	wt.key = float64(t.IssuedAt.Unix()) - t.HeadStartS
	return wt
}

// sortQueue orders the list as the window will likely call it: tickets
// transferred to it first, then by place in line (issue time less the
// class's head start). The engine's choice may differ when it protects a
// ticket waiting too long or escalates a backup item; the reason shown
// on each call says why.
func sortQueue(q []WaitingTicket) []WaitingTicket {
	if q == nil {
		return []WaitingTicket{}
	}
	sort.SliceStable(q, func(i, j int) bool {
		if q[i].Transferred != q[j].Transferred {
			return q[i].Transferred
		}
		return q[i].key < q[j].key
	})
	if len(q) > maxClerkQueue {
		q = q[:maxClerkQueue]
	}
	return q
}
