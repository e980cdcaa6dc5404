package speaker

import (
	"errors"
	"regexp"
	"strings"
	"unicode/utf8"
)

// Errors for text the speaker refuses.
var (
	ErrPersonalData = errors.New("text looks like it holds an ID number")
	ErrTooLong      = errors.New("text too long for one announcement")
)

// MaxTextRunes bounds one announcement ("请A001号到8号窗口办理" is 14).
const MaxTextRunes = 120

var hanziDigit = [10]string{"零", "一", "二", "三", "四", "五", "六", "七", "八", "九"}

// A run of 15 or more digits (ASCII, full-width or hanzi, with an X check
// digit) is an ID number (18 digits, or 15 for old cards) or close enough:
// a hall never announces one.
var idLike = regexp.MustCompile(`[0-9０-９零〇一二三四五六七八九Xx]{15,}`)

// Check refuses text that must never be spoken. Full names cannot be told
// from other hanzi; hallctl is responsible for sending numbers, not names.
func Check(text string) error {
	if utf8.RuneCountInString(text) > MaxTextRunes {
		return ErrTooLong
	}
	for _, m := range idLike.FindAllString(text, -1) {
		n := 0
		for _, r := range m {
			if r != 'X' && r != 'x' {
				n++
			}
		}
		if n >= 14 { // at least 14 digits besides an X: 15-digit or 18-digit ID
			return ErrPersonalData
		}
	}
	return nil
}

// ticket numbers: a letter prefix and digits, maybe already followed by 号.
var ticketRe = regexp.MustCompile(`\b([A-Za-z]{1,3})([0-9]{1,6})\b(?:[ \t]*号)?`)
var digitsRe = regexp.MustCompile(`[0-9]+`)

// Normalize makes text speakable digit by digit, as halls call numbers:
// "请A001到5号窗口" → "请A零零一号到五号窗口". A ticket number (a letter
// prefix and digits) gets 号 unless it already has it; other digits are
// read one by one (窗口 numbers included, so 12号 is 一二号).
func Normalize(text string) string {
	text = ticketRe.ReplaceAllStringFunc(text, func(m string) string {
		sm := ticketRe.FindStringSubmatch(m)
		return strings.ToUpper(sm[1]) + spell(sm[2]) + "号"
	})
	return digitsRe.ReplaceAllStringFunc(text, spell)
}

func spell(d string) string {
	var b strings.Builder
	for i := 0; i < len(d); i++ {
		b.WriteString(hanziDigit[d[i]-'0'])
	}
	return b.String()
}

var englishDigit = [10]string{"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"}

// NormalizeLang makes text speakable in lang (as Lang keys it): zh and
// yue as Normalize (hanzi digits, which the Cantonese voice reads in
// Cantonese); en reads a ticket number letter and digit by digit ("A001"
// → "A zero zero one") and leaves other numbers to the voice ("window 12"
// is "twelve"); other langs are left as they are.
func NormalizeLang(text, lang string) string {
	switch lang {
	case "zh", "cmn", "yue":
		return Normalize(text)
	case "en":
		return ticketRe.ReplaceAllStringFunc(text, func(m string) string {
			sm := ticketRe.FindStringSubmatch(m)
			var b strings.Builder
			for _, r := range strings.ToUpper(sm[1]) {
				b.WriteRune(r)
				b.WriteByte(' ')
			}
			for i := 0; i < len(sm[2]); i++ {
				if i > 0 {
					b.WriteByte(' ')
				}
				b.WriteString(englishDigit[sm[2][i]-'0'])
			}
			return b.String()
		})
	}
	return text
}
