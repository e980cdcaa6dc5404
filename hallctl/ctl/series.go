package ctl

import (
	"context"

	"github.com/servicehall/servicehall/hallctl/report"
	"github.com/servicehall/servicehall/hallctl/store"
)

// Series is the manager console's chart data (report.SeriesFolder over the
// whole event log, like Report), at the controller's clock unless o.Now is
// set.
func (c *Controller) Series(ctx context.Context, o report.SeriesOpts) (report.Series, error) {
	f := report.NewSeriesFolder(c.cfg)
	err := c.store.Read(ctx, "", 0, func(r store.Record) error {
		f.Apply(r)
		return nil
	})
	if err != nil {
		return report.Series{}, err
	}
	if o.Now.IsZero() {
		o.Now = c.clock.Now()
	}
	return f.Series(o)
}
