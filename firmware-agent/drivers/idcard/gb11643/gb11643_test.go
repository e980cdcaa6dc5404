package gb11643

import (
	"errors"
	"testing"
)

// The standard's Appendix A example and a second published vector
// (protocols/DEVICES.md §2.6).
func TestPublishedVectors(t *testing.T) {
	for _, id := range []string{"11010519491231002X", "34052419800101001X"} {
		c, err := CheckChar(id[:17])
		if err != nil {
			t.Fatal(err)
		}
		if c != 'X' {
			t.Errorf("CheckChar(%s) = %c, want X", id[:17], c)
		}
		if err := Validate(id); err != nil {
			t.Errorf("Validate(%s): %v", id, err)
		}
	}
	if err := Validate("11010519491231002x"); err != nil {
		t.Errorf("lower-case x refused: %v", err)
	}
}

func TestValidateErrors(t *testing.T) {
	cases := []struct {
		id   string
		want error
	}{
		{"110105194912310021", ErrCheckDigit},
		{"11010519491231002", ErrFormat},
		{"11010519491231002XX", ErrFormat},
		{"1101051949123100AX", ErrFormat},
		{"11010519491231002Y", ErrFormat},
		{"", ErrFormat},
	}
	for _, c := range cases {
		if err := Validate(c.id); !errors.Is(err, c.want) {
			t.Errorf("Validate(%q) = %v, want %v", c.id, err, c.want)
		}
	}
	// A correct check character over an impossible date (Feb 30).
	id := "11010519490230001"
	ch, _ := CheckChar(id)
	if err := Validate(id + string(ch)); !errors.Is(err, ErrBirthDate) {
		t.Errorf("Feb 30: %v", err)
	}
	if Code(ErrCheckDigit) != "id_check_digit" || Code(errors.New("x")) != "" {
		t.Error("codes")
	}
}

func TestCrossCheck(t *testing.T) {
	const id = "11010519491231002X" // 17th digit 2: female
	if err := CrossCheck(id, "19491231", "2"); err != nil {
		t.Fatal(err)
	}
	if err := CrossCheck(id, "19491230", "2"); !errors.Is(err, ErrBirthMismatch) {
		t.Errorf("birth: %v", err)
	}
	if err := CrossCheck(id, "19491231", "1"); !errors.Is(err, ErrSexMismatch) {
		t.Errorf("sex: %v", err)
	}
	if err := CrossCheck(id, "19491231", "9"); !errors.Is(err, ErrSexMismatch) {
		t.Errorf("sex 9: %v", err)
	}
	male := "11010519800101001"
	ch, _ := CheckChar(male)
	if err := CrossCheck(male+string(ch), "19800101", "1"); err != nil {
		t.Errorf("male: %v", err)
	}
}

// FuzzValidate: arbitrary strings never panic, and an accepted number has
// a consistent check character and birth date.
func FuzzValidate(f *testing.F) {
	f.Add("11010519491231002X", "19491231", "2")
	f.Add("34052419800101001X", "19800101", "1")
	f.Add("110105194902300015", "19490230", "1")
	f.Add("", "", "")
	f.Fuzz(func(t *testing.T, id, birth, sex string) {
		err := CrossCheck(id, birth, sex)
		if Validate(id) != nil {
			if err == nil {
				t.Fatal("CrossCheck accepted an invalid number")
			}
			return
		}
		c, cerr := CheckChar(id)
		if cerr != nil || (c != id[17] && !(c == 'X' && id[17] == 'x')) {
			t.Fatal("accepted number with a wrong check character")
		}
		if _, derr := ParseDate(Birth(id)); derr != nil {
			t.Fatal("accepted number with a bad birth date")
		}
		if err == nil && (Birth(id) != birth || (sex == "1") != Male(id)) {
			t.Fatal("cross-check accepted a mismatch")
		}
	})
}
