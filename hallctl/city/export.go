package city

import (
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"strconv"

	"github.com/xuri/excelize/v2"
)

// Exports for people, as the hall reports' (report.WriteCSVZh,
// report.WriteXLSXZh): Chinese headers, waits in minutes with one
// decimal, percentages, a 合计 row, CSV with a BOM and CRLF.

// TotalLabel is the totals row's first cell.
const TotalLabel = "合计"

type kind int

const (
	kText kind = iota
	kCount
	kMinutes
	kPercent
)

type column struct {
	head string
	kind kind
	val  func(r Row) any
}

func minutes(p *float64) any {
	if p == nil {
		return nil
	}
	return *p / 60
}

func ratio(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}

// Columns are the export's columns for by (hall or dept).
func columns(by string) []column {
	cs := []column{
		{"大厅", kText, func(r Row) any { return r.Hall }},
		{"大厅名称", kText, func(r Row) any { return r.HallName }},
	}
	if by == "dept" {
		cs = append(cs, column{"部门", kText, func(r Row) any { return r.Dept }},
			column{"部门名称", kText, func(r Row) any { return r.DeptName }})
	}
	return append(cs,
		column{"取号数", kCount, func(r Row) any { return r.Tickets }},
		column{"办结数", kCount, func(r Row) any { return r.Served }},
		column{"过号数", kCount, func(r Row) any { return r.NoShows }},
		column{"平均等候（分钟）", kMinutes, func(r Row) any { return minutes(r.MeanWaitS) }},
		column{"P50 等候（分钟）", kMinutes, func(r Row) any { return minutes(r.P50WaitS) }},
		column{"P90 等候（分钟）", kMinutes, func(r Row) any { return minutes(r.P90WaitS) }},
		column{"评价数", kCount, func(r Row) any { return r.Rated }},
		column{"好评率", kPercent, func(r Row) any { return ratio(r.GoodRate) }},
		column{"差评率", kPercent, func(r Row) any { return ratio(r.BadRate) }},
		column{"差评整改率", kPercent, func(r Row) any { return ratio(r.Rectify) }},
		column{"到期承诺件数", kCount, func(r Row) any { return r.Due }},
		column{"按期办结率（到期件）", kPercent, func(r Row) any { return ratio(r.OnTime) }},
	)
}

// HeaderZh is the export's header row for by.
func HeaderZh(by string) []string {
	var h []string
	for _, c := range columns(by) {
		h = append(h, c.head)
	}
	return h
}

func text(k kind, v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return ""
		}
		if k == kPercent {
			return strconv.FormatFloat(math.Round(x*1000)/10, 'f', 1, 64) + "%"
		}
		return strconv.FormatFloat(math.Round(x*10)/10, 'f', 1, 64)
	}
	return fmt.Sprint(v)
}

// lines are the summary's rows then its totals row (labelled 合计).
func (s Summary) lines() []Row {
	t := s.Total
	t.Hall = TotalLabel
	return append(append([]Row(nil), s.Rows...), t)
}

// WriteCSVZh writes s for people: UTF-8 with a BOM, CRLF, Chinese headers.
func WriteCSVZh(w io.Writer, s Summary) error {
	if _, err := io.WriteString(w, "\uFEFF"); err != nil {
		return err
	}
	cw := csv.NewWriter(w)
	cw.UseCRLF = true
	cs := columns(s.By)
	if err := cw.Write(HeaderZh(s.By)); err != nil {
		return err
	}
	for _, r := range s.lines() {
		rec := make([]string, len(cs))
		for i, c := range cs {
			rec[i] = text(c.kind, c.val(r))
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// SheetZh is WriteXLSXZh's sheet.
const SheetZh = "城市报表"

// WriteXLSXZh writes s on one sheet with a bold frozen header, number
// formats (counts #,##0, minutes 0.0, percentages 0.0%; the cells hold
// numbers) and a bold totals row.
func WriteXLSXZh(w io.Writer, s Summary) error {
	f := excelize.NewFile()
	defer f.Close()
	if err := f.SetSheetName("Sheet1", SheetZh); err != nil {
		return err
	}
	head, err := f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true, Color: "FFFFFF"},
		Fill:      excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{"2F5597"}},
		Alignment: &excelize.Alignment{WrapText: true, Vertical: "center"}})
	if err != nil {
		return err
	}
	fmts := map[kind]string{kText: "@", kCount: "#,##0", kMinutes: "0.0", kPercent: "0.0%"}
	styles := map[[2]int]int{}
	for k, nf := range fmts {
		for bold := range 2 {
			st := &excelize.Style{CustomNumFmt: &nf}
			if bold == 1 {
				st.Font = &excelize.Font{Bold: true}
				st.Fill = excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{"E7E6E6"}}
			}
			id, err := f.NewStyle(st)
			if err != nil {
				return err
			}
			styles[[2]int{int(k), bold}] = id
		}
	}
	cs := columns(s.By)
	for i, h := range HeaderZh(s.By) {
		cell, _ := excelize.CoordinatesToCellName(i+1, 1)
		f.SetCellValue(SheetZh, cell, h)
		f.SetCellStyle(SheetZh, cell, cell, head)
		col, _ := excelize.ColumnNumberToName(i + 1)
		f.SetColWidth(SheetZh, col, col, 12)
	}
	lines := s.lines()
	for j, r := range lines {
		bold := 0
		if j == len(lines)-1 {
			bold = 1
		}
		for i, c := range cs {
			cell, _ := excelize.CoordinatesToCellName(i+1, j+2)
			if v := c.val(r); v != nil {
				f.SetCellValue(SheetZh, cell, v)
			}
			f.SetCellStyle(SheetZh, cell, cell, styles[[2]int{int(c.kind), bold}])
		}
	}
	if err := f.SetPanes(SheetZh, &excelize.Panes{Freeze: true, YSplit: 1, TopLeftCell: "A2", ActivePane: "bottomLeft"}); err != nil {
		return err
	}
	return f.Write(w)
}
