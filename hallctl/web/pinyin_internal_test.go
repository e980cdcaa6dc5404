package web

import (
	"reflect"
	"slices"
	"testing"
)

func TestNameSyllables(t *testing.T) {
	got := nameSyllables("社保-A卡")
	if len(got) != 3 || got[0][0] != "she" || got[1][0] != "bao" || got[2][0] != "ka" {
		t.Errorf("社保-A卡 → %v", got)
	}
	// Every reading of a character with several: 重新 is also chongxin.
	if r := nameSyllables("重新"); len(r) != 2 || !reflect.DeepEqual(r[1], []string{"xin"}) || !slices.Contains(r[0], "chong") || !slices.Contains(r[0], "zhong") {
		t.Errorf("重新 → %v", r)
	}
	if r := nameSyllables("ABC"); len(r) != 0 {
		t.Errorf("ABC → %v", r)
	}
}
