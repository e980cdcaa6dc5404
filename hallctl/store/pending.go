package store

// Pending is a batch handed to the writer by Submit; Wait returns its
// outcome.
type Pending struct {
	r   *request
	err error // set when the batch was never queued
}

// Submit queues b for the writer and returns at once. Batches submitted
// one after another are committed in that order (concurrent submitters are
// grouped into one transaction): a caller that submits while holding its
// own lock gets its in-memory order and the log's order to agree without
// holding the lock across the fsync. Submit blocks only while the writer's
// queue is full.
func (l *Log) Submit(b *Batch) *Pending {
	if b == nil || len(b.ops) == 0 {
		return &Pending{}
	}
	if err := b.validate(); err != nil {
		return &Pending{err: err}
	}
	r := &request{batch: b, reply: make(chan struct{})}
	if err := l.Err(); err != nil {
		return &Pending{err: err}
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return &Pending{err: ErrClosed}
	}
	l.reqs <- r
	return &Pending{r: r}
}

// Wait blocks until the batch is durable (or failed) and returns the
// sequence numbers of its records. It cannot be cancelled: the write is
// already accepted, and its outcome must be known.
func (p *Pending) Wait() ([]int64, error) {
	if p.r == nil {
		return nil, p.err
	}
	<-p.r.reply
	return p.r.seqs, p.r.err
}

// Done is closed when the outcome is known (nil for a batch never queued).
func (p *Pending) Done() <-chan struct{} {
	if p.r == nil {
		c := make(chan struct{})
		close(c)
		return c
	}
	return p.r.reply
}

// OnCommit sets f to run on the writer goroutine after every transaction,
// with the records it appended (sequence numbers filled in), in log order.
// f must be quick and must not write to the log. Set it before writing.
func (l *Log) OnCommit(f func(recs []Record)) { l.onCommit.Store(&f) }
