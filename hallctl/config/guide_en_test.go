package config

import (
	"strings"
	"testing"
)

func TestGuideENChecked(t *testing.T) {
	base := `hall: {id: g, name: 大厅, hours: {open: "09:00", close: "17:00"}}
departments: [{code: HR, name: 人社}]
windows: [{number: 1, dept: HR, serves: ["*"]}]
items:
`
	for _, c := range []struct{ item, want string }{
		{`  - {code: A, name: 甲, dept: HR, prefix: A, guide: {materials: [身份证]}, guide_en: {materials: [ID card]}}`, ""},
		{`  - {code: A, name: 甲, dept: HR, prefix: A, guide_en: {materials: [ID card]}}`, "items[0].guide_en: is given but guide"},
		{`  - {code: A, name: 甲, dept: HR, prefix: A, guide: {materials: [身份证, 照片]}, guide_en: {materials: [ID card]}}`, "different number of materials"},
		{`  - {code: A, name: 甲, dept: HR, prefix: A, guide: {fee: 免费}, guide_en: {fee: 免费}}`, "holds Chinese text"},
	} {
		_, err := Parse("g.yaml", []byte(base+c.item+"\n"))
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.item, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: %v, want %q", c.item, err, c.want)
		}
	}
}
