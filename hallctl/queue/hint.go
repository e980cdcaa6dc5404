package queue

// SoleWindowFor is the one window that may call the item, when there is
// exactly one: the windows whose serves or backup include it right now,
// open, paused or closed alike (a closed window may open, a backup may
// take the line over). A ticket's window hint is a promise — "请到 5 号窗口"
// — so it is given only when no other window can call the ticket; a
// manager widening another window's serves later is the one way to break
// it, and the hall screen then shows the real window.
func (e *Engine) SoleWindowFor(item string) (int, bool) {
	j, ok := e.itemIdx[item]
	if !ok {
		return 0, false
	}
	it := &e.items[j]
	sole := int32(-1)
	for _, list := range [][]int32{it.servers, it.backups} {
		for _, wi := range list {
			if sole >= 0 && sole != wi {
				return 0, false
			}
			sole = wi
		}
	}
	if sole < 0 {
		return 0, false
	}
	return e.windows[sole].number, true
}
