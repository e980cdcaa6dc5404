package store_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/servicehall/servicehall/hallctl/store"
)

// A projection (here: a count of issued tickets) is rebuilt at start from
// its latest snapshot plus the records after it.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "store-example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "events.db")

	log, err := store.Open(ctx, path, store.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	issued := 0
	for i := range 3 {
		log.Append(ctx, store.Record{Stream: "queue", Type: "ticket-issued", Key: fmt.Sprint("cmd-", i)})
		issued++
	}
	last, _ := log.LastSeq(ctx, "queue")
	log.SaveSnapshot(ctx, "queue", last, []byte(strconv.Itoa(issued)))
	log.Append(ctx, store.Record{Stream: "queue", Type: "ticket-issued", Key: "cmd-3"})
	// A retried command is refused, not applied twice.
	_, err = log.Append(ctx, store.Record{Stream: "queue", Type: "ticket-issued", Key: "cmd-3"})
	fmt.Println(store.Code(err))
	log.Close()

	log, _ = store.Open(ctx, path, store.Options{})
	defer log.Close()
	issued = 0
	upto, err := store.Replay(ctx, log, "queue",
		func(s store.Snapshot) error { issued, err = strconv.Atoi(string(s.Data)); return err },
		func(r store.Record) error { issued++; return nil })
	fmt.Println(issued, upto, err)
	// Output:
	// duplicate_key
	// 4 4 <nil>
}
