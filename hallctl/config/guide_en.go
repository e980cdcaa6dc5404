package config

import "unicode"

// empty reports whether the guide says nothing.
func (g Guide) empty() bool {
	return g.Conditions == "" && len(g.Materials) == 0 && g.Fee == "" && g.Location == ""
}

// guideENProblem checks items[].guide_en, the kiosk's English guide: it
// translates the Chinese guide, so it needs one, with as many materials,
// and it is in English (a Chinese text pasted there would show as
// "English").
func (it Item) guideENProblem() string {
	e := it.GuideEN
	if e.empty() {
		return ""
	}
	if it.Guide.empty() {
		return "is given but guide (the Chinese guide, shown first) is empty"
	}
	if len(e.Materials) != len(it.Guide.Materials) {
		return "lists a different number of materials than guide (each material needs its translation)"
	}
	for _, s := range append([]string{e.Conditions, e.Fee, e.Location}, e.Materials...) {
		for _, r := range s {
			if unicode.Is(unicode.Han, r) {
				return "holds Chinese text (" + s + "): guide_en is the English guide"
			}
		}
	}
	return ""
}
