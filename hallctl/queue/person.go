package queue

// PersonOf is the keyed hash of the ID card ticket id was taken with ("" for
// a ticket taken without a card, or unknown). It is a hash, never the ID
// number; the 好差评 rating keeps it to rate once per applicant per case.
func (e *Engine) PersonOf(id int64) string {
	ti, err := e.ticketByID(id)
	if err != nil {
		return ""
	}
	return e.tickets[ti].person
}
