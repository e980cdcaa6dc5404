package ctl

import (
	"context"

	"github.com/servicehall/servicehall/hallctl/casesys"
)

// Staff sign-in at a window (hallctl/web signin.go): the clerk who signs
// in at a window's console is recorded as the window's clerk (a clerk
// record, as a console action records it), and signing out clears it, so
// the manager console, the case system and the reports name who worked.

// ClerkSignedIn records clerk (a staff id) as working at window.
func (c *Controller) ClerkSignedIn(ctx context.Context, window int, clerk string) error {
	if clerk == "" || c.cfg.Window(window) == nil {
		return nil
	}
	return c.inUnit(ctx, func(u *unit) error {
		c.signIn(u, window, clerk)
		return nil
	})
}

// ClerkSignedOut records that clerk left window, when clerk is still the
// window's clerk (a colleague who signed in since stays).
func (c *Controller) ClerkSignedOut(ctx context.Context, window int, clerk string) error {
	if clerk == "" || c.cfg.Window(window) == nil {
		return nil
	}
	return c.inUnit(ctx, func(u *unit) error {
		if _, cur := c.WindowFloor(window, 0); cur != clerk {
			return nil
		}
		if cs := c.cases; cs != nil {
			delete(cs.clerks, window)
		}
		u.Append(casesys.ClerkRecord(window, "", c.clock.Now()))
		return nil
	})
}
