// Package gb11643 checks citizen identity numbers (公民身份号码) per
// GB 11643-1999: the 18-character layout (6-digit region, 8-digit birth
// date, 3-digit sequence whose last digit encodes sex, check character) and
// the ISO 7064 MOD 11-2 check character. It also cross-checks a number
// against the birth date and sex printed on the card's text block.
//
// Errors never quote the number: callers may log them.
package gb11643

import (
	"errors"
	"fmt"
	"time"
)

// Sentinel errors; each has a stable code (Code).
var (
	ErrFormat        = errors.New("id number: not 17 digits and a check character")
	ErrCheckDigit    = errors.New("id number: check character mismatch")
	ErrBirthDate     = errors.New("id number: birth date is not a valid date")
	ErrBirthMismatch = errors.New("id number: birth date differs from the record")
	ErrSexMismatch   = errors.New("id number: sex digit differs from the record")
)

// Code returns a stable string code for an error of this package, "" for
// others.
func Code(err error) string {
	switch {
	case errors.Is(err, ErrFormat):
		return "id_format"
	case errors.Is(err, ErrCheckDigit):
		return "id_check_digit"
	case errors.Is(err, ErrBirthDate):
		return "id_birth_date"
	case errors.Is(err, ErrBirthMismatch):
		return "id_birth_mismatch"
	case errors.Is(err, ErrSexMismatch):
		return "id_sex_mismatch"
	}
	return ""
}

// weights are Wi = 2^(17-i) mod 11 for i = 1..17.
var weights = [17]int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}

const checkChars = "10X98765432"

// CheckChar returns the check character for the first 17 digits of a number
// (extra characters after 17 are ignored).
func CheckChar(first17 string) (byte, error) {
	if len(first17) < 17 {
		return 0, ErrFormat
	}
	s := 0
	for i := 0; i < 17; i++ {
		c := first17[i]
		if c < '0' || c > '9' {
			return 0, ErrFormat
		}
		s += int(c-'0') * weights[i]
	}
	return checkChars[s%11], nil
}

// Validate checks the layout, the birth date and the check character of an
// 18-character number. A lower-case 'x' is accepted as 'X'.
func Validate(id string) error {
	if len(id) != 18 {
		return ErrFormat
	}
	want, err := CheckChar(id)
	if err != nil {
		return err
	}
	got := id[17]
	if got == 'x' {
		got = 'X'
	}
	if got != 'X' && (got < '0' || got > '9') {
		return ErrFormat
	}
	if got != want {
		return ErrCheckDigit
	}
	if _, err := ParseDate(id[6:14]); err != nil {
		return ErrBirthDate
	}
	return nil
}

// Birth returns the birth date digits (YYYYMMDD) of a number that passed
// Validate.
func Birth(id string) string {
	if len(id) < 14 {
		return ""
	}
	return id[6:14]
}

// Male reports whether the sequence's last digit (17th character) is odd.
func Male(id string) bool {
	return len(id) >= 17 && (id[16]-'0')%2 == 1
}

// CrossCheck validates id and compares it with the record's birth date
// (YYYYMMDD) and sex code ("1" male, "2" female, GB/T 2261.1).
func CrossCheck(id, birth, sex string) error {
	if err := Validate(id); err != nil {
		return err
	}
	if Birth(id) != birth {
		return ErrBirthMismatch
	}
	switch sex {
	case "1":
		if !Male(id) {
			return ErrSexMismatch
		}
	case "2":
		if Male(id) {
			return ErrSexMismatch
		}
	default:
		return fmt.Errorf("%w: sex code is not 1 or 2", ErrSexMismatch)
	}
	return nil
}

// ParseDate parses YYYYMMDD strictly (a real calendar date, year 1800..2199).
func ParseDate(s string) (time.Time, error) {
	if len(s) != 8 {
		return time.Time{}, ErrBirthDate
	}
	for i := 0; i < 8; i++ {
		if s[i] < '0' || s[i] > '9' {
			return time.Time{}, ErrBirthDate
		}
	}
	t, err := time.Parse("20060102", s)
	if err != nil || t.Year() < 1800 || t.Year() > 2199 {
		return time.Time{}, ErrBirthDate
	}
	return t, nil
}
