package sam

import (
	"errors"
	"fmt"

	"github.com/servicehall/servicehall/firmware-agent/drivers/idcard/gb11643"
)

// ErrField marks a text-block field whose content is malformed.
var ErrField = errors.New("sam: malformed field")

// Validate checks the record: name present, sex code 1 or 2, dates, the
// GB 11643 number with its check character, and that the number's birth
// date and sex digit agree with the record. Errors name the field, never
// its value.
func (id Identity) Validate() error {
	if id.Name == "" {
		return fmt.Errorf("%w: name is empty", ErrField)
	}
	if id.Sex != "1" && id.Sex != "2" {
		return fmt.Errorf("%w: sex code is not 1 or 2", ErrField)
	}
	if _, err := gb11643.ParseDate(id.Birth); err != nil {
		return fmt.Errorf("%w: birth is not YYYYMMDD", ErrField)
	}
	if _, err := gb11643.ParseDate(id.ValidFrom); err != nil {
		return fmt.Errorf("%w: valid_from is not YYYYMMDD", ErrField)
	}
	if id.ValidTo != ValidForever {
		if _, err := gb11643.ParseDate(id.ValidTo); err != nil {
			return fmt.Errorf("%w: valid_to is neither YYYYMMDD nor 长期", ErrField)
		}
	}
	return gb11643.CrossCheck(id.ID, id.Birth, id.Sex)
}

// nations are the GB 3304 codes of the 56 ethnic groups.
var nations = [...]string{
	"汉", "蒙古", "回", "藏", "维吾尔", "苗", "彝", "壮", "布依", "朝鲜",
	"满", "侗", "瑶", "白", "土家", "哈尼", "哈萨克", "傣", "黎", "傈僳",
	"佤", "畲", "高山", "拉祜", "水", "东乡", "纳西", "景颇", "柯尔克孜", "土",
	"达斡尔", "仫佬", "羌", "布朗", "撒拉", "毛南", "仡佬", "锡伯", "阿昌", "普米",
	"塔吉克", "怒", "乌孜别克", "俄罗斯", "鄂温克", "德昂", "保安", "裕固", "京", "塔塔尔",
	"独龙", "鄂伦春", "赫哲", "门巴", "珞巴", "基诺",
}

// NationName returns the name of a GB 3304 nation code ("01" → 汉), "" if
// unknown.
func NationName(code string) string {
	switch code {
	case "97":
		return "其他"
	case "98":
		return "外国血统中国籍人士"
	}
	if len(code) != 2 || code[0] < '0' || code[0] > '9' || code[1] < '0' || code[1] > '9' {
		return ""
	}
	n := int(code[0]-'0')*10 + int(code[1]-'0')
	if n < 1 || n > len(nations) {
		return ""
	}
	return nations[n-1]
}
