package casesys

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"gopkg.in/yaml.v3"
)

// The official public holiday schedules (国务院办公厅 notices), one file
// per year, holidays/cn-YYYY.yaml: every day off and every make-up working
// day of that year. A new year's notice (published around November) is a
// new file; the controller warns when the current or next month has none.
//
//go:embed holidays/cn-*.yaml
var shippedFS embed.FS

// shippedFile is the format of holidays/cn-YYYY.yaml.
type shippedFile struct {
	Year   int       `yaml:"year"`
	Notice string    `yaml:"notice"`
	Days   []Holiday `yaml:"days"`
}

var shipped = sync.OnceValues(func() (map[int][]Holiday, error) { return loadShipped(shippedFS) })

// Shipped returns the schedules built into the binary, by year. The map is
// shared: do not modify it.
func Shipped() (map[int][]Holiday, error) { return shipped() }

// ShippedYears lists the years with a shipped schedule, in order.
func ShippedYears() []int {
	sh, _ := Shipped()
	ys := make([]int, 0, len(sh))
	for y := range sh {
		ys = append(ys, y)
	}
	sort.Ints(ys)
	return ys
}

// loadShipped reads and checks every cn-YYYY.yaml of fsys: the year in the
// name and in the file agree, every date is in that year, none twice.
func loadShipped(fsys fs.FS) (map[int][]Holiday, error) {
	names, err := fs.Glob(fsys, "holidays/cn-*.yaml")
	if err != nil {
		return nil, err
	}
	out := map[int][]Holiday{}
	for _, name := range names {
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		var f shippedFile
		if err := yaml.Unmarshal(b, &f); err != nil {
			return nil, fmt.Errorf("shipped calendar %s: %w", name, err)
		}
		y, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(path.Base(name), "cn-"), ".yaml"))
		if err != nil || y != f.Year {
			return nil, fmt.Errorf("shipped calendar %s: year %d does not match the file name", name, f.Year)
		}
		if len(f.Days) == 0 {
			return nil, fmt.Errorf("shipped calendar %s: no days", name)
		}
		seen := map[string]bool{}
		for i, h := range f.Days {
			t, err := time.Parse(DateLayout, h.Date)
			if err != nil || t.Year() != y {
				return nil, fmt.Errorf("shipped calendar %s: days[%d].date %q is not a date of %d", name, i, h.Date, y)
			}
			if seen[h.Date] {
				return nil, fmt.Errorf("shipped calendar %s: %s is listed twice", name, h.Date)
			}
			seen[h.Date] = true
		}
		out[y] = f.Days
	}
	return out, nil
}
