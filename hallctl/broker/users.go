package broker

import (
	"errors"
	"fmt"
)

// errRevoked is the stop cause of a client whose account was removed.
var errRevoked = errors.New("mqtt account revoked")

// SetUsers replaces the accounts while the broker runs (an agent enrolled
// or revoked with hallctl agent). New connections are checked against
// them; clients already connected are not: call Disconnect for an account
// that was removed or whose password changed.
func (b *Broker) SetUsers(users []User) error {
	m, problems := checkUsers(b.opts, users)
	if len(problems) > 0 {
		return fmt.Errorf("%w: %w", ErrConfig, errors.Join(problems...))
	}
	b.users.Store(&m)
	return nil
}

// Disconnect ends the connection and the session of every client
// authenticated as username (its subscriptions and queued messages go) and
// returns how many there were. With the account gone (SetUsers), it
// cannot come back.
func (b *Broker) Disconnect(username string) int {
	b.mu.Lock()
	srv, h := b.srv, b.hook
	b.mu.Unlock()
	if srv == nil || h == nil {
		return 0
	}
	n := 0
	for _, cl := range srv.Clients.GetAll() {
		id := h.identity(cl)
		if id == nil || id.user != username {
			continue
		}
		n++
		h.who.CompareAndDelete(cl.ID, id)
		srv.UnsubscribeClient(cl)
		cl.Stop(errRevoked)
		srv.Clients.Delete(cl.ID)
		b.log.Warn("mqtt client disconnected: account revoked", "client", cl.ID, "username", username, "remote", cl.Net.Remote)
	}
	return n
}
