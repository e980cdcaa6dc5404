package web

import (
	"slices"
	"sync"

	"github.com/mozillazg/go-pinyin"
)

// The kiosk searches items by pinyin as well as by characters: "shebao",
// "sb" and "shbz" all find 社会保障卡申领. The server gives each item's
// name as toneless syllables (go-pinyin), every reading of a character
// that has several (重 → zhong, chong; 行 → xing, hang: the dictionary's
// first reading alone would miss 重新 as "chongxin"); the kiosk matches a
// query as prefixes of syllables in order (kiosk.js, pyMatch). Computed
// once per name.
var pinyinCache sync.Map // name → [][]string

// nameSyllables is the toneless pinyin of the Han characters of name, the
// readings of one character each ("社会保障" → [she] [hui kuai] [bao]
// [zhang]); other characters are left out (the kiosk matches them as
// typed).
func nameSyllables(name string) [][]string {
	if v, ok := pinyinCache.Load(name); ok {
		return v.([][]string)
	}
	a := pinyin.NewArgs() // style Normal: no tones
	a.Heteronym = true
	out := [][]string{}
	for _, readings := range pinyin.Pinyin(name, a) {
		var uniq []string
		for _, r := range readings {
			if r != "" && !slices.Contains(uniq, r) {
				uniq = append(uniq, r)
			}
		}
		if len(uniq) > 0 {
			out = append(out, uniq)
		}
	}
	pinyinCache.Store(name, out)
	return out
}
