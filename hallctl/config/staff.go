package config

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"
)

// Staff is one member of staff who signs in to the clerk or manager
// console with a staff id and password (the `staff:` section,
// docs/config.md). The password is kept only as a bcrypt hash — in the
// config (PasswordHash) or in a file of its own (PasswordFile, 0600);
// `hallctl staff hash` makes one. A production config never holds a
// password, only hashes.
type Staff struct {
	// ID is the staff id (工号) typed at sign-in: the token subject, so
	// `hallctl token disable ID` locks the person out, and the clerk
	// recorded on calls, services and ratings. Never an ID-card number.
	ID string `yaml:"id"`
	// Name is the display name colleagues see (e.g. "王工" or "前台小李"),
	// not a legal full name.
	Name string `yaml:"name"`
	// Role is clerk, manager or admin.
	Role string `yaml:"role"`
	// Windows, for clerks, limits the windows the person may sign in at;
	// empty = any window of the hall.
	Windows      []int  `yaml:"windows,omitempty"`
	PasswordHash string `yaml:"password_hash,omitempty"`
	PasswordFile string `yaml:"password_file,omitempty"`
}

// MayWindow reports whether the staff member may sign in at window n.
func (s Staff) MayWindow(n int) bool {
	if len(s.Windows) == 0 {
		return true
	}
	for _, w := range s.Windows {
		if w == n {
			return true
		}
	}
	return false
}

// DemoStaffPassword is the demo hall's staff password (configs/demo):
// refused outside a demo hall.
const DemoStaffPassword = "demo1234"

// StaffMember finds a staff id in the `staff:` section.
func (c *Config) StaffMember(id string) (Staff, bool) {
	for _, s := range c.Staff {
		if s.ID == id {
			return s, true
		}
	}
	return Staff{}, false
}

// StaffName is the display name of a staff id, "" when not listed.
func (c *Config) StaffName(id string) string {
	if s, ok := c.StaffMember(id); ok {
		return s.Name
	}
	return ""
}

// staffID is what a staff id may be: a token subject (auth.ValidSubject)
// of letters, digits and . _ - @ :, 1 to 64 characters.
var staffID = regexp.MustCompile(`^[\p{L}\p{N}._@:-]{1,64}$`)

// idNumberLike is an 18-character resident ID number (or 15 digits): a
// staff id must not be one (privacy: ID numbers are never stored).
var idNumberLike = regexp.MustCompile(`^(\d{17}[\dXx]|\d{15})$`)

// staffProblems checks the `staff:` section.
func (c *Config) staffProblems(add func(key, format string, args ...any)) {
	seen := map[string]bool{}
	windows := map[int]bool{}
	for _, w := range c.Windows {
		windows[w.Number] = true
	}
	for i, s := range c.Staff {
		k := fmt.Sprintf("staff[%d]", i)
		switch {
		case !staffID.MatchString(s.ID):
			add(k+".id", "%q must be 1 to 64 letters, digits or . _ - @ :", s.ID)
		case idNumberLike.MatchString(s.ID):
			add(k+".id", "looks like an ID-card number; use a staff id (工号) instead")
		case seen[s.ID]:
			add(k+".id", "staff id %q is listed twice", s.ID)
		}
		seen[s.ID] = true
		if strings.TrimSpace(s.Name) == "" {
			add(k+".name", "is empty (the display name colleagues see)")
		} else if utf8.RuneCountInString(s.Name) > 32 {
			add(k+".name", "is longer than 32 characters (a display name, not a full legal name)")
		}
		switch s.Role {
		case "clerk", "manager", "admin":
		default:
			add(k+".role", "%q must be clerk, manager or admin", s.Role)
		}
		if len(s.Windows) > 0 && s.Role != "clerk" {
			add(k+".windows", "only a clerk signs in at a window")
		}
		for _, n := range s.Windows {
			if !windows[n] {
				add(k+".windows", "window %d is not in windows:", n)
			}
		}
		switch {
		case s.PasswordHash == "" && s.PasswordFile == "":
			add(k, "needs password_hash or password_file (make one with `hallctl staff hash`)")
		case s.PasswordHash != "" && s.PasswordFile != "":
			add(k, "has both password_hash and password_file; keep one")
		case s.PasswordHash != "":
			if _, err := bcrypt.Cost([]byte(s.PasswordHash)); err != nil {
				add(k+".password_hash", "is not a bcrypt hash (make one with `hallctl staff hash`)")
			} else if !c.Server.Demo && bcrypt.CompareHashAndPassword([]byte(s.PasswordHash), []byte(DemoStaffPassword)) == nil {
				add(k+".password_hash", "is the demo password %q: only a demo hall (server.demo) may use it; make a real one with `hallctl staff hash`", DemoStaffPassword)
			}
		}
	}
}
