// Package leader elects one active controller per hall among controllers
// that share a PostgreSQL event log (active/standby, docs/failover.md).
//
// Leadership is a lease: the hall's row of the leaders table names the
// holder, an epoch and an expiry in the database's own clock. A standby
// takes the row only once the lease has expired, raising the epoch; the
// store opened with that epoch (store.Options.Epoch) refuses every commit
// once the row holds another, so a deposed leader — frozen, partitioned,
// or slow — can no longer append, whatever it believes. The leader renews
// every TTL/3 and gives up (ErrLost) when a renewal finds another epoch or
// none has succeeded for a whole TTL.
package leader

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jonboulle/clockwork"

	"github.com/servicehall/servicehall/hallctl/store"
)

// ErrLost: this controller no longer leads (another took the lease, or it
// could not renew in time). It wraps store.ErrFenced: the log refuses it.
var ErrLost = fmt.Errorf("leadership lost: %w", store.ErrFenced)

// Options tune an election. Zero values take the defaults beside them.
type Options struct {
	Hall   string
	Holder string        // this controller's name (host name, node name)
	TTL    time.Duration // lease length; default 3 s
	Poll   time.Duration // how often a standby looks at the lease; default TTL/10
	Clock  clockwork.Clock
	Logger *slog.Logger
	// OnStandby, when set, is told the current holder each time a standby
	// look finds the lease held (for the standby's 503 answers).
	OnStandby func(holder string, epoch int64)
}

func (o Options) withDefaults() Options {
	if o.TTL <= 0 {
		o.TTL = 3 * time.Second
	}
	if o.Poll <= 0 {
		o.Poll = o.TTL / 10
	}
	if o.Clock == nil {
		o.Clock = clockwork.NewRealClock()
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Lease is held leadership of one hall.
type Lease struct {
	o     Options
	pool  *pgxpool.Pool
	epoch int64
	// renewed is when the last successful renewal (or the acquisition)
	// started, on this process's clock: the lease is surely ours until
	// renewed + TTL, as the database's expiry was set after it.
	renewed time.Time
}

// Epoch is the lease's epoch: open the store with it.
func (l *Lease) Epoch() int64 { return l.epoch }

// Holder is this controller's name.
func (l *Lease) Holder() string { return l.o.Holder }

// ttl is the lease length in PostgreSQL interval syntax.
func (o Options) ttl() string { return fmt.Sprintf("%d milliseconds", o.TTL.Milliseconds()) }

// Acquire waits until this controller leads o.Hall and returns the lease.
// The leaders table must exist (store.MigratePostgres). It returns ctx's
// error when ctx ends first.
func Acquire(ctx context.Context, pool *pgxpool.Pool, o Options) (*Lease, error) {
	o = o.withDefaults()
	if o.Hall == "" || o.Holder == "" {
		return nil, errors.New("leader: a hall and a holder name are needed")
	}
	lastHolder := ""
	for {
		started := o.Clock.Now()
		epoch, holder, err := tryTake(ctx, pool, o)
		switch {
		case err == nil && holder == o.Holder:
			o.Logger.Info("leading the hall", "hall", o.Hall, "epoch", epoch, "holder", o.Holder)
			return &Lease{o: o, pool: pool, epoch: epoch, renewed: started}, nil
		case err == nil:
			if holder != lastHolder {
				o.Logger.Info("standing by: another controller leads", "hall", o.Hall, "leader", holder, "epoch", epoch)
				lastHolder = holder
			}
			if o.OnStandby != nil {
				o.OnStandby(holder, epoch)
			}
		case ctx.Err() != nil:
			return nil, ctx.Err()
		default:
			o.Logger.Warn("standing by: cannot read the lease", "hall", o.Hall, "err", err)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-o.Clock.After(o.Poll):
		}
	}
}

// tryTake takes the lease when it is free or expired (raising the epoch)
// and returns who holds it now.
func tryTake(ctx context.Context, pool *pgxpool.Pool, o Options) (epoch int64, holder string, err error) {
	err = pool.QueryRow(ctx, `
		INSERT INTO leaders(hall, epoch, holder, expires) VALUES ($1, 1, $2, now() + $3::interval)
		ON CONFLICT (hall) DO UPDATE SET epoch = leaders.epoch + 1, holder = EXCLUDED.holder, expires = EXCLUDED.expires
			WHERE leaders.expires IS NULL OR leaders.expires < now()
		RETURNING epoch, holder`, o.Hall, o.Holder, o.ttl()).Scan(&epoch, &holder)
	if errors.Is(err, pgx.ErrNoRows) {
		err = pool.QueryRow(ctx, `SELECT epoch, coalesce(holder, '') FROM leaders WHERE hall = $1`, o.Hall).Scan(&epoch, &holder)
	}
	if err != nil {
		return 0, "", fmt.Errorf("leader: take the lease of hall %s: %w", o.Hall, err)
	}
	return epoch, holder, nil
}

// Check reports ErrLost when the lease is no longer this controller's.
func (l *Lease) Check(ctx context.Context) error {
	var epoch int64
	err := l.pool.QueryRow(ctx, `SELECT epoch FROM leaders WHERE hall = $1`, l.o.Hall).Scan(&epoch)
	if err != nil {
		return fmt.Errorf("leader: read the lease: %w", err)
	}
	if epoch != l.epoch {
		return fmt.Errorf("%w: the hall's epoch is %d, this controller's %d", ErrLost, epoch, l.epoch)
	}
	return nil
}

// Run renews the lease every TTL/3 until ctx ends (nil) or leadership is
// lost (ErrLost): another epoch in the row, or no renewal for a whole TTL
// (the database unreachable: a standby may lead by now).
func (l *Lease) Run(ctx context.Context) error {
	every := l.o.TTL / 3
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-l.o.Clock.After(every):
		}
		started := l.o.Clock.Now()
		if started.Sub(l.renewed) >= l.o.TTL {
			// A freeze (SIGSTOP, a stalled VM) outlived the lease.
			return fmt.Errorf("%w: no renewal for %v (lease %v)", ErrLost, started.Sub(l.renewed).Round(time.Millisecond), l.o.TTL)
		}
		rctx, cancel := context.WithDeadline(ctx, l.renewed.Add(l.o.TTL))
		tag, err := l.pool.Exec(rctx, `UPDATE leaders SET expires = now() + $3::interval WHERE hall = $1 AND epoch = $2`,
			l.o.Hall, l.epoch, l.o.ttl())
		cancel()
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			l.o.Logger.Warn("lease renewal failed", "hall", l.o.Hall, "epoch", l.epoch, "err", err)
		case tag.RowsAffected() == 0:
			return fmt.Errorf("%w: another controller took hall %s (this epoch %d)", ErrLost, l.o.Hall, l.epoch)
		default:
			l.renewed = started
		}
	}
}

// Release ends the lease at once (a clean stop), so that a standby leads
// without waiting for it to expire. The epoch stays: the next leader
// raises it.
func (l *Lease) Release(ctx context.Context) error {
	_, err := l.pool.Exec(ctx, `UPDATE leaders SET expires = now() - interval '1 millisecond' WHERE hall = $1 AND epoch = $2`, l.o.Hall, l.epoch)
	if err != nil {
		return fmt.Errorf("leader: release the lease: %w", err)
	}
	l.o.Logger.Info("lease released", "hall", l.o.Hall, "epoch", l.epoch)
	return nil
}
