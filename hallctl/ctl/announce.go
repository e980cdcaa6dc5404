package ctl

import (
	"strconv"
	"strings"

	"github.com/servicehall/servicehall/hallctl/config"
	"github.com/servicehall/servicehall/wire"
)

// Announcement is what a zone's speakers say for a call: the `announce:`
// template of each of the zone's languages, in order, with the ticket
// number read letter and digit by digit and the window as a number, and
// the espeak-ng voice of each. Text and Lang repeat the first language
// for agents that know no segments.
func Announcement(a config.Announce, zone, number string, window int) wire.Speak {
	var sp wire.Speak
	for _, lang := range a.ZoneLanguages(zone) {
		t := a.Template(lang)
		if t.Text == "" {
			continue
		}
		text := strings.NewReplacer("{number}", SpokenNumber(lang, number), "{window}", SpokenWindow(lang, window)).Replace(t.Text)
		sp.Segments = append(sp.Segments, wire.SpeakSegment{Text: text, Lang: lang, Voice: t.Voice})
	}
	if len(sp.Segments) == 0 { // validated configs always have one
		sp.Segments = []wire.SpeakSegment{{Text: SpeakText(number, window), Lang: "zh"}}
	}
	sp.Text, sp.Lang, sp.Voice = sp.Segments[0].Text, sp.Segments[0].Lang, sp.Segments[0].Voice
	return sp
}

// SpeakText is the default Mandarin announcement of a call:
// "请A 零零一号到三号窗口办理".
func SpeakText(number string, window int) string {
	var a config.Announce
	t := a.Template("zh")
	return strings.NewReplacer("{number}", SpokenNumber("zh", number), "{window}", SpokenWindow("zh", window)).Replace(t.Text)
}

var (
	hanziDigits   = []string{"零", "一", "二", "三", "四", "五", "六", "七", "八", "九"}
	englishDigits = []string{"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"}
)

// SpokenNumber reads a ticket number as halls call it: its letters one by
// one, then its digits one by one — "A001" is "A 零零一" in zh and yue
// and "A zero zero one" in en ("AB12" is "A B 一二").
func SpokenNumber(lang, number string) string {
	digits := hanziDigits
	sep := ""
	if lang == "en" {
		digits, sep = englishDigits, " "
	}
	var words []string
	run := ""
	flush := func() {
		if run != "" {
			words = append(words, run)
			run = ""
		}
	}
	for _, r := range strings.ToUpper(number) {
		switch {
		case r >= '0' && r <= '9':
			if run != "" {
				run += sep
			}
			run += digits[r-'0']
		case r >= 'A' && r <= 'Z':
			flush()
			words = append(words, string(r))
		default: // a dash or the like: a pause
			flush()
		}
	}
	flush()
	return strings.Join(words, " ")
}

// SpokenWindow reads a window number as a number: 3 is 三 / three, 12 is
// 十二 / twelve, 105 is 一百零五 / one hundred and five.
func SpokenWindow(lang string, n int) string {
	if lang == "en" {
		return englishNumber(n)
	}
	return hanziNumber(n)
}

func hanziNumber(n int) string {
	if n < 0 || n >= 10000 {
		var b strings.Builder
		for _, r := range strconv.Itoa(n) {
			if r >= '0' && r <= '9' {
				b.WriteString(hanziDigits[r-'0'])
			}
		}
		return b.String()
	}
	if n < 10 {
		return hanziDigits[n]
	}
	if n < 20 { // 十, 十二: no leading 一
		if n == 10 {
			return "十"
		}
		return "十" + hanziDigits[n-10]
	}
	units := []struct {
		v int
		s string
	}{{1000, "千"}, {100, "百"}, {10, "十"}}
	var b strings.Builder
	zero := false
	for _, u := range units {
		d := n / u.v
		n %= u.v
		if d > 0 {
			if zero {
				b.WriteString("零")
				zero = false
			}
			b.WriteString(hanziDigits[d] + u.s)
		} else if b.Len() > 0 {
			zero = true
		}
	}
	if n > 0 {
		if zero {
			b.WriteString("零")
		}
		b.WriteString(hanziDigits[n])
	}
	return b.String()
}

var englishTeens = []string{"ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"}
var englishTens = []string{"", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"}

func englishNumber(n int) string {
	switch {
	case n < 0 || n >= 1000:
		return strconv.Itoa(n) // the voice reads it
	case n < 10:
		return englishDigits[n]
	case n < 20:
		return englishTeens[n-10]
	case n < 100:
		if n%10 == 0 {
			return englishTens[n/10]
		}
		return englishTens[n/10] + "-" + englishDigits[n%10]
	}
	s := englishDigits[n/100] + " hundred"
	if n%100 != 0 {
		s += " and " + englishNumber(n%100)
	}
	return s
}
