package ctl

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/servicehall/servicehall/hallctl/bus"
	"github.com/servicehall/servicehall/hallctl/queue"
	"github.com/servicehall/servicehall/hallctl/store"
	"github.com/servicehall/servicehall/wire"
)

// RatingStream is the log stream of 好差评 ratings.
const RatingStream = "rating"

// Rating is one applicant's rating of a service, 1 (非常不满意) … 5 (非常满意).
type Rating struct {
	Ticket  int64     `json:"ticket"`
	Number  string    `json:"number"`
	Item    string    `json:"item"`
	Window  int       `json:"window"`
	Level   int       `json:"level"`
	Channel string    `json:"channel"` // pad | kiosk | api
	At      time.Time `json:"at"`
}

// Rating errors.
var (
	ErrBadLevel     = errors.New("rating level must be 1..5")
	ErrNotRateable  = errors.New("ticket has not been served")
	ErrAlreadyRated = errors.New("ticket already rated")
)

// ratingTimeout is how long a window's rating pad stays open after service.
const ratingTimeout = 60 * time.Second

// openRating asks the window's rating pads to open a session for the
// ticket just finished (after the unit commits).
func (c *Controller) openRating(u *unit, win int, ticket int64, number string) {
	for _, pad := range c.bus.Find(func(_ string, d wire.DeviceInfo) bool {
		return d.Kind == wire.KindRating && d.Window == win
	}) {
		args := wire.RatingOpen{Session: strconv.FormatInt(ticket, 10), Ticket: number, Window: win, TimeoutS: int(ratingTimeout / time.Second)}
		if _, err := c.bus.Dispatch(u, pad.Agent, pad.Device.ID, wire.CmdRatingOpen, args, 10*time.Second); err != nil {
			c.log.Error("open rating session", "agent", pad.Agent, "device", pad.Device.ID, "err", err)
		}
	}
}

// onRating records a rating pad's press; the session is the ticket id.
func (c *Controller) onRating(u *unit, ev bus.Event, r wire.Rating) error {
	id, err := strconv.ParseInt(r.Session, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: rating session %q is not a ticket", wire.ErrInvalid, r.Session)
	}
	_, err = c.rate(u, id, r.Level, "pad", ev.Msg.ID)
	return err
}

// Rate records a rating for a served ticket, once per ticket.
func (c *Controller) Rate(ctx context.Context, ticket int64, level int, channel, source string) (rt Rating, err error) {
	uerr := c.inUnit(ctx, func(u *unit) error {
		rt, err = c.rate(u, ticket, level, channel, source)
		return nil
	})
	if uerr != nil {
		return Rating{}, uerr
	}
	return rt, err
}

func (c *Controller) rate(u *unit, ticket int64, level int, channel, source string) (Rating, error) {
	if level < 1 || level > 5 {
		return Rating{}, ErrBadLevel
	}
	t, ok := c.desk.Engine().Ticket(ticket)
	if !ok {
		return Rating{}, queue.ErrUnknownTicket
	}
	if t.State != queue.Finished {
		return Rating{}, ErrNotRateable
	}
	if c.desk.rated[ticket] {
		return Rating{}, ErrAlreadyRated
	}
	rt := Rating{Ticket: ticket, Number: t.Number, Item: t.Item, Window: t.Window, Level: level, Channel: channel, At: c.clock.Now()}
	key := "ticket-" + strconv.FormatInt(ticket, 10)
	u.Append(store.Record{Stream: RatingStream, Type: "rated", Key: key, At: rt.At, Data: wire.Marshal(rt)})
	c.desk.rated[ticket] = true
	c.metrics.ratings.WithLabelValues(strconv.Itoa(level)).Inc()
	u.After(func() { c.feed.publish(HallEvent{Kind: "rating", Type: "rated", At: rt.At, Rating: &rt}) })
	return rt, nil
}
