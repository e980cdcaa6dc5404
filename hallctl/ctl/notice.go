package ctl

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/servicehall/servicehall/hallctl/store"
	"github.com/servicehall/servicehall/wire"
)

// The hall screen's notice (its ticker): set by a manager, audited, kept in
// the log (a "notice" record, and the keyed table for the restart), and
// published to the live feed once durable.

// NoticeStream is the log stream of notice changes.
const NoticeStream = "notice"

// DefaultNotice is the notice of a hall whose manager never set one.
const DefaultNotice = "请按叫号顺序到对应窗口办理业务。 Please go to the window shown when your number is called."

// MaxNoticeRunes bounds a notice.
const MaxNoticeRunes = 300

// noticeBucket/noticeKey keep the current notice.
const (
	noticeBucket = "hall"
	noticeKey    = "notice"
)

// ErrBadNotice is returned for a notice that is too long or not text.
var ErrBadNotice = errors.New("bad notice")

// NoticeRecord is a notice change as the log keeps it.
type NoticeRecord struct {
	Text string `json:"text"`
	By   string `json:"by"`
}

// loadNotice reads the current notice (DefaultNotice when none was set).
func (c *Controller) loadNotice(ctx context.Context) (string, error) {
	b, err := c.store.Get(ctx, noticeBucket, noticeKey)
	if errors.Is(err, store.ErrNotFound) {
		return DefaultNotice, nil
	}
	if err != nil {
		return "", fmt.Errorf("load notice: %w", err)
	}
	return string(b), nil
}

// Notice is the hall screen's notice now.
func (c *Controller) Notice() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.notice
}

// SetNotice sets the hall screen's notice (at most MaxNoticeRunes, no
// control characters) and records who did it in the audit log, in one
// unit; the screens get it once it is durable.
func (c *Controller) SetNotice(ctx context.Context, text, actor, role string) (string, error) {
	if n := len([]rune(text)); n > MaxNoticeRunes {
		return "", fmt.Errorf("%w: notice is longer than %d characters", ErrBadNotice, MaxNoticeRunes)
	}
	if strings.ContainsFunc(text, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return "", fmt.Errorf("%w: notice contains control characters", ErrBadNotice)
	}
	err := c.inUnit(ctx, func(u *unit) error {
		now := c.clock.Now()
		u.Append(store.Record{Stream: NoticeStream, Type: "set", At: now, Data: wire.Marshal(NoticeRecord{Text: text, By: actor})})
		u.Put(noticeBucket, noticeKey, []byte(text))
		e := AuditEntry{At: now, Actor: actor, Role: role, Action: ManagerAction{Type: "set_notice"}, Detail: text}
		u.Append(store.Record{Stream: AuditStream, Type: "set_notice", At: now, Data: wire.Marshal(e)})
		c.notice = text
		u.After(func() { c.feed.publish(HallEvent{Kind: "notice", Type: "set", At: now, Notice: text}) })
		return nil
	})
	if err != nil {
		return "", err
	}
	return text, nil
}
