// Package city is the city view (issue 13, item 3): it folds the event
// logs of every hall in one PostgreSQL database into the city_tickets
// projection (one row per ticket, derived with the hall report's own
// code) and answers summaries per hall and per department — tickets,
// waits (P50, P90), no-shows, 好差评 and 按期办结率 — over JSON, CSV, XLSX
// and a plain HTML page, to holders of city tokens (auth.OpenCity), each
// limited to a list of halls.
package city

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/servicehall/servicehall/hallctl/config"
)

// Config is a city.yaml: the city's id (its tokens' audience), the
// database, where its token key ring lives, and the halls' configs (for
// their names, time zones and item → department maps).
type Config struct {
	City struct {
		ID       string `yaml:"id"`
		Name     string `yaml:"name"`
		Timezone string `yaml:"timezone"` // "today" of the page and API; default Asia/Shanghai
	} `yaml:"city"`
	Store    string `yaml:"store"`     // postgres://… (hallctl city serve --store overrides)
	StateDir string `yaml:"state_dir"` // holds token-keys/ (default: city-state beside the file)
	HTTPAddr string `yaml:"http_addr"` // default 127.0.0.1:8090
	Halls    []struct {
		Config string `yaml:"config"` // a hall config file, relative to this file
	} `yaml:"halls"`

	// Loc is City.Timezone's zone.
	Loc *time.Location `yaml:"-"`
	// HallConfigs are the halls' configs by hall id.
	HallConfigs map[string]*config.Config `yaml:"-"`
}

// ErrConfig is wrapped by every config problem.
var ErrConfig = errors.New("invalid city config")

var cityID = regexp.MustCompile(`^[0-9A-Za-z][0-9A-Za-z._-]{0,39}$`)

// LoadConfig reads a city config and the hall configs it names.
func LoadConfig(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read city config: %w", err)
	}
	return ParseConfig(path, b)
}

// ParseConfig decodes city config bytes; path resolves relative paths.
func ParseConfig(path string, b []byte) (*Config, error) {
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrConfig, path, err)
	}
	if !cityID.MatchString(c.City.ID) {
		return nil, fmt.Errorf("%w: %s: city.id %q: 1 to 40 letters, digits, . _ -", ErrConfig, path, c.City.ID)
	}
	tz := c.City.Timezone
	if tz == "" {
		tz = "Asia/Shanghai"
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: city.timezone: %w", ErrConfig, path, err)
	}
	c.Loc = loc
	dir := filepath.Dir(path)
	if c.StateDir == "" {
		c.StateDir = "city-state"
	}
	if !filepath.IsAbs(c.StateDir) {
		c.StateDir = filepath.Join(dir, c.StateDir)
	}
	if c.HTTPAddr == "" {
		c.HTTPAddr = "127.0.0.1:8090"
	}
	c.HallConfigs = map[string]*config.Config{}
	for i, h := range c.Halls {
		p := h.Config
		if p == "" {
			return nil, fmt.Errorf("%w: %s: halls[%d]: config is empty", ErrConfig, path, i)
		}
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		hc, err := config.Load(p)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: halls[%d]: %w", ErrConfig, path, i, err)
		}
		if _, dup := c.HallConfigs[hc.Hall.ID]; dup {
			return nil, fmt.Errorf("%w: %s: hall %s is listed twice", ErrConfig, path, hc.Hall.ID)
		}
		c.HallConfigs[hc.Hall.ID] = hc
	}
	return &c, nil
}

// HallName is a hall's display name ("" for a hall without a config).
func (c *Config) HallName(hall string) string {
	if hc := c.HallConfigs[hall]; hc != nil {
		return hc.Hall.Name
	}
	return ""
}

// DeptName is a hall's department's display name.
func (c *Config) DeptName(hall, dept string) string {
	if hc := c.HallConfigs[hall]; hc != nil {
		for _, d := range hc.Departments {
			if d.Code == dept {
				return d.Name
			}
		}
	}
	return ""
}
