package layout

import (
	"fmt"
	"strings"
	"time"
)

// MaskName masks a name for public screens: the first character stays,
// the last stays when the name has three or more characters, the rest
// become '*' (张三 → 张*, 张小三 → 张*三, 欧阳娜娜 → 欧**娜). A
// one-character name becomes "*".
func MaskName(name string) string {
	r := []rune(strings.TrimSpace(name))
	switch len(r) {
	case 0:
		return ""
	case 1:
		return "*"
	case 2:
		return string(r[0]) + "*"
	}
	return string(r[0]) + strings.Repeat("*", len(r)-2) + string(r[len(r)-1])
}

// Call is a ticket called to a window.
type Call struct {
	Number string    `json:"number"`
	Window int       `json:"window"`
	Name   string    `json:"name,omitempty"` // masked by Board.Add, never kept in full
	At     time.Time `json:"at"`
}

// BoardRow is one line of the hall screen.
type BoardRow struct {
	Number     string    `json:"number"`
	Window     int       `json:"window"`
	WindowText string    `json:"window_text"` // "8号窗口"
	Name       string    `json:"name,omitempty"`
	At         time.Time `json:"at"`
	Recalls    int       `json:"recalls,omitempty"`
}

// Board is the hall screen (综合屏) view model: the latest calls, newest
// first, one row per ticket number. It keeps only masked names. The web
// hall screen and an LED hall screen both render from it. Not safe for
// concurrent use.
type Board struct {
	size int
	rows []BoardRow
}

// NewBoard keeps the latest size calls (at least 1).
func NewBoard(size int) *Board {
	return &Board{size: max(size, 1)}
}

// Add records a call. Calling a number already on the board (a recall or
// a transfer) moves it to the top with its new window.
func (b *Board) Add(c Call) {
	row := BoardRow{
		Number:     c.Number,
		Window:     c.Window,
		WindowText: fmt.Sprintf("%d号窗口", c.Window),
		Name:       MaskName(c.Name),
		At:         c.At,
	}
	for i, r := range b.rows {
		if r.Number == c.Number {
			row.Recalls = r.Recalls + 1
			b.rows = append(b.rows[:i], b.rows[i+1:]...)
			break
		}
	}
	b.rows = append([]BoardRow{row}, b.rows...)
	if len(b.rows) > b.size {
		b.rows = b.rows[:b.size]
	}
}

// Remove drops a number (finished, no-show, cancelled).
func (b *Board) Remove(number string) {
	for i, r := range b.rows {
		if r.Number == number {
			b.rows = append(b.rows[:i], b.rows[i+1:]...)
			return
		}
	}
}

// Rows returns the board, newest first (a copy).
func (b *Board) Rows() []BoardRow {
	return append([]BoardRow(nil), b.rows...)
}

// Lines renders the board as text lines for an LED hall screen:
// "A012  8号窗口", as many as the panel has rows.
func (b *Board) Lines(p Panel) []string {
	n := min(p.Rows(), len(b.rows))
	out := make([]string, n)
	for i := range n {
		out[i] = b.rows[i].Number + RowSep + b.rows[i].WindowText
	}
	return out
}
