package report

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"time"

	"github.com/servicehall/servicehall/hallctl/store"
	_ "modernc.org/sqlite" // the event log's driver
)

// ReadLog calls fn for every record of the event log at path, in seq
// order, without disturbing a running hallctl: it opens the SQLite file
// read-only (query_only, shared WAL reads) and never takes the log's lock,
// so it works while the controller appends.
func ReadLog(ctx context.Context, path string, fn func(store.Record) error) error {
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("event log: %w", err)
	}
	q := url.Values{}
	q.Add("mode", "ro")
	q.Add("_pragma", "busy_timeout(5000)")
	q.Add("_pragma", "query_only(ON)")
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: path}).EscapedPath()+"?"+q.Encode())
	if err != nil {
		return fmt.Errorf("open event log read-only: %w", err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	var after int64
	for {
		rows, err := db.QueryContext(ctx, `SELECT seq, at, stream, type, key, data FROM events WHERE seq > ? ORDER BY seq LIMIT 1000`, after)
		if err != nil {
			return fmt.Errorf("read event log: %w", err)
		}
		n := 0
		var page []store.Record
		for rows.Next() {
			var r store.Record
			var at int64
			if err := rows.Scan(&r.Seq, &at, &r.Stream, &r.Type, &r.Key, &r.Data); err != nil {
				rows.Close()
				return fmt.Errorf("read event log: %w", err)
			}
			r.At = time.Unix(0, at).UTC()
			page = append(page, r)
			n++
		}
		err = errors.Join(rows.Err(), rows.Close())
		if err != nil {
			return fmt.Errorf("read event log: %w", err)
		}
		for _, r := range page {
			if err := fn(r); err != nil {
				return err
			}
			after = r.Seq
		}
		if n < 1000 {
			return nil
		}
	}
}
