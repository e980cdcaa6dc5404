package ctl

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/servicehall/servicehall/hallctl/bus"
	"github.com/servicehall/servicehall/wire"
)

// Voice guidance on a kiosk (适老化, issue 11): a kiosk agent may have a
// speaker of its own (kind speaker, no zone, no window; admitted on kiosk
// agents only). The kiosk page asks for one of a fixed set of short
// prompts by id; the controller renders the text and sends the normal
// cmd/speak to that speaker. A page never sends text to be spoken, and a
// prompt holds no personal data — the ticket number at most.

// KioskPrompt is one prompt a kiosk may ask for.
type KioskPrompt struct {
	ZH, EN string
	Number bool // the text takes the ticket number (%s)
}

// KioskPrompts are the prompts by id.
var KioskPrompts = map[string]KioskPrompt{
	"welcome":     {ZH: "您好，请选择要办理的事项，或将身份证放在下方读卡区", EN: "Welcome. Choose a service, or place your ID card on the reader below."},
	"elder_on":    {ZH: "已进入长辈模式。请将身份证放在下方读卡区取号", EN: "Senior mode is on. Place your ID card on the reader below to take a ticket."},
	"swipe_card":  {ZH: "请将身份证放在下方读卡区", EN: "Please place your ID card on the reader below."},
	"card_read":   {ZH: "已读取身份证，请点选要办理的事项", EN: "Your ID card has been read. Please tap the service you need."},
	"choose_item": {ZH: "请点选要办理的事项", EN: "Please tap the service you need."},
	"your_number": {ZH: "您的号码是%s，请取走号票，留意叫号", EN: "Your number is %s. Please take your ticket and wait to be called.", Number: true},
	// No paper to take (the print failed or has no answer yet): the
	// voice says the number only, never "take your ticket".
	"your_number_unprinted": {ZH: "您的号码是%s，请记住号码，留意叫号", EN: "Your number is %s. Please remember it and wait to be called.", Number: true},
}

// KioskPromptIDs lists the prompt ids, sorted.
func KioskPromptIDs() []string {
	ids := make([]string, 0, len(KioskPrompts))
	for id := range KioskPrompts {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// Kiosk voice errors.
var (
	ErrNoSpeaker     = errors.New("this kiosk has no speaker online")
	ErrUnknownPrompt = errors.New("unknown kiosk prompt")
	ErrNotKiosk      = errors.New("not a kiosk agent")
)

// kioskPromptTTL: a prompt not played within this is dropped by the
// speaker (the applicant has moved on).
const kioskPromptTTL = 20 * time.Second

// KioskSpeaker is the kiosk agent's own speaker (no zone, no window),
// online and not in fault; false when it has none.
func (c *Controller) KioskSpeaker(agent string) (bus.Target, bool) {
	if !c.openHall() {
		if a, ok := c.Config().Enrolled(agent); !ok || !a.Kiosk {
			return bus.Target{}, false
		}
	}
	for _, s := range c.bus.Find(func(a string, d wire.DeviceInfo) bool {
		return a == agent && d.Kind == wire.KindSpeaker && d.Window == 0 && d.Zone == ""
	}) {
		if s.Online && s.Status.State != "fault" && s.Status.State != "offline" {
			return s, true
		}
	}
	return bus.Target{}, false
}

// KioskSpeak speaks prompt (an id of KioskPrompts) in lang ("zh" or "en")
// on the kiosk agent's speaker. A numbered prompt needs number to be a
// ticket of today's hall.
func (c *Controller) KioskSpeak(ctx context.Context, agent, prompt, number, lang string) error {
	p, ok := KioskPrompts[prompt]
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknownPrompt, prompt)
	}
	text := p.ZH
	if lang == "en" {
		text = p.EN
	} else {
		lang = "zh"
	}
	if p.Number {
		t, ok := c.FindTicket(number)
		if !ok {
			return fmt.Errorf("prompt %s: %w", prompt, ErrUnknownTicketNumber)
		}
		text = fmt.Sprintf(text, t.Number)
	}
	spk, ok := c.KioskSpeaker(agent)
	if !ok {
		return ErrNoSpeaker
	}
	return c.inUnit(ctx, func(u *unit) error {
		_, err := c.bus.Dispatch(u, spk.Agent, spk.Device.ID, wire.CmdSpeak, wire.Speak{Text: text, Lang: lang}, kioskPromptTTL)
		return err
	})
}

// ErrUnknownTicketNumber: the number names no ticket.
var ErrUnknownTicketNumber = errors.New("no such ticket number")
