package report

import (
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"strconv"

	"github.com/xuri/excelize/v2"
)

// The reports people hand to their bosses (issue 11): Chinese headers,
// minutes (one decimal) instead of seconds, percentages (满意率 93.5%),
// a totals row (合计), CSV with a UTF-8 BOM so that Excel reads the
// Chinese, and XLSX with formatted columns and a chart sheet. The
// machine-readable exports (WriteCSV, WriteXLSX: Header's snake_case
// columns, seconds and ratios) stay as they are for integrators.

// GroupTitle is the group column's Chinese header for a report's by.
func GroupTitle(by string) string {
	switch by {
	case "department":
		return "部门"
	case "item":
		return "事项"
	case "window":
		return "窗口"
	case "clerk":
		return "人员"
	}
	return "分组"
}

// HeaderZh is the Chinese column list; the group column is named by
// GroupTitle (here 分组).
func HeaderZh(by string) []string {
	g := GroupTitle(by)
	return []string{"期间", g, g + "名称", "取号数", "办结数", "过号数", "平均等候（分钟）", "P90 等候（分钟）",
		"平均办理（分钟）", "承诺件办结数", "按期办结率", "提前办结率",
		"非常不满意", "不满意", "基本满意", "满意", "非常满意", "满意率",
		"好评率", "差评率", "差评整改率", "实名差评回访整改率", "到期承诺件数", "按期办结率（到期件）", "平均评价"}
}

// Column kinds of HeaderZh, for formats.
const (
	colText = iota
	colCount
	colMinutes
	colPercent
	colMean // a mean rating, one decimal
)

var zhKinds = []int{colText, colText, colText, colCount, colCount, colCount, colMinutes, colMinutes,
	colMinutes, colCount, colPercent, colPercent, colCount, colCount, colCount, colCount, colCount, colPercent,
	colPercent, colPercent, colPercent, colPercent, colCount, colPercent, colMean}

// TotalLabel is the totals row's period cell.
const TotalLabel = "合计"

// Totals sums the rows: counts add up; mean wait is weighted by the
// tickets called, mean service by the tickets served; rates are taken
// over the summed counts. P90 cannot be made from the rows' P90s, so it
// is NaN (an empty cell) unless there is a single row.
func Totals(rows []Row) Row {
	t := Row{Period: TotalLabel, P90WaitS: math.NaN()}
	var wait, svc float64
	for _, r := range rows {
		t.Tickets += r.Tickets
		t.Served += r.Served
		t.NoShows += r.NoShows
		t.Waits += r.Waits
		t.Completed += r.Completed
		t.OnTime += r.OnTime
		t.Early += r.Early
		for i := range t.Ratings {
			t.Ratings[i] += r.Ratings[i]
		}
		t.Rated += r.Rated
		t.Good += r.Good
		t.Bad += r.Bad
		t.BadRectified += r.BadRectified
		t.NamedBad += r.NamedBad
		t.NamedBadRectified += r.NamedBadRectified
		t.LevelSum += r.LevelSum
		t.AppealsAccepted += r.AppealsAccepted
		t.Due += r.Due
		t.DueOnTime += r.DueOnTime
		if r.Waits > 0 && !math.IsNaN(r.MeanWaitS) {
			wait += r.MeanWaitS * float64(r.Waits)
		}
		if r.Served > 0 && !math.IsNaN(r.MeanSvcS) {
			svc += r.MeanSvcS * float64(r.Served)
		}
	}
	t.MeanWaitS, t.MeanSvcS = math.NaN(), math.NaN()
	if t.Waits > 0 {
		t.MeanWaitS = wait / float64(t.Waits)
	}
	if t.Served > 0 {
		t.MeanSvcS = svc / float64(t.Served)
	}
	if len(rows) == 1 {
		t.P90WaitS = rows[0].P90WaitS
	}
	return t
}

// zhValues are a row's HeaderZh cells as numbers: minutes and ratios
// (NaN for no data), counts as ints.
func (r Row) zhValues() []any {
	return []any{r.Period, r.Group, r.GroupName, r.Tickets, r.Served, r.NoShows, r.MeanWaitS / 60, r.P90WaitS / 60,
		r.MeanSvcS / 60, r.Completed, r.OnTimeRate(), r.EarlyRate(),
		r.Ratings[0], r.Ratings[1], r.Ratings[2], r.Ratings[3], r.Ratings[4], r.Satisfaction(),
		r.GoodRate(), r.BadRate(), r.RectifyRate(), r.NamedRectifyRate(), r.Due, r.DueOnTimeRate(), r.MeanRating()}
}

// zhText formats a cell for CSV: minutes with one decimal, percentages
// with one decimal and a %, "" for no data.
func zhText(kind int, v any) string {
	switch x := v.(type) {
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return ""
		}
		if kind == colPercent {
			return strconv.FormatFloat(math.Round(x*1000)/10, 'f', 1, 64) + "%"
		}
		if kind == colMean {
			return strconv.FormatFloat(math.Round(x*10)/10, 'f', 1, 64)
		}
		return strconv.FormatFloat(math.Round(x*10)/10, 'f', 1, 64)
	default:
		return fmt.Sprint(v)
	}
}

// WriteCSVZh writes the rows and a totals row with HeaderZh, as UTF-8
// with a byte order mark (Excel then reads the Chinese right).
func WriteCSVZh(w io.Writer, rows []Row, by string) error {
	if _, err := io.WriteString(w, "\uFEFF"); err != nil {
		return err
	}
	cw := csv.NewWriter(w)
	cw.UseCRLF = true // what Excel writes
	if err := cw.Write(HeaderZh(by)); err != nil {
		return err
	}
	for _, r := range append(rows[:len(rows):len(rows)], Totals(rows)) {
		vs := r.zhValues()
		rec := make([]string, len(vs))
		for i, v := range vs {
			rec[i] = zhText(zhKinds[i], v)
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// Sheet names of WriteXLSXZh.
const (
	SheetZh      = "报表"
	ChartSheetZh = "图表"
)

// WriteXLSXZh writes the rows and a totals row on sheet 报表 with Chinese
// headers, column widths, number formats (minutes 0.0, percentages 0.0%)
// and a styled header, and a sheet 图表 with the figures per group and two
// charts: tickets and served (columns), mean and P90 wait (bars).
func WriteXLSXZh(w io.Writer, rows []Row, by string) error {
	f := excelize.NewFile()
	defer f.Close()
	if err := f.SetSheetName("Sheet1", SheetZh); err != nil {
		return err
	}
	styles, err := zhStyles(f)
	if err != nil {
		return err
	}
	hdr := HeaderZh(by)
	hrow := make([]any, len(hdr))
	for i, h := range hdr {
		hrow[i] = h
	}
	if err := f.SetSheetRow(SheetZh, "A1", &hrow); err != nil {
		return err
	}
	last, _ := excelize.ColumnNumberToName(len(hdr))
	if err := f.SetCellStyle(SheetZh, "A1", last+"1", styles.header); err != nil {
		return err
	}
	_ = f.SetRowHeight(SheetZh, 1, 36)
	all := append(rows[:len(rows):len(rows)], Totals(rows))
	for i, r := range all {
		vs := r.zhValues()
		for j, v := range vs {
			if x, ok := v.(float64); ok && (math.IsNaN(x) || math.IsInf(x, 0)) {
				vs[j] = nil // no data: an empty cell
			}
		}
		row := i + 2
		cell, _ := excelize.CoordinatesToCellName(1, row)
		if err := f.SetSheetRow(SheetZh, cell, &vs); err != nil {
			return err
		}
		total := i == len(all)-1
		for j, kind := range zhKinds {
			c, _ := excelize.CoordinatesToCellName(j+1, row)
			if err := f.SetCellStyle(SheetZh, c, c, styles.of(kind, total)); err != nil {
				return err
			}
		}
	}
	widths := []float64{12, 10, 22, 9, 9, 9, 12, 12, 12, 12, 11, 11, 10, 8, 9, 8, 9, 9, 9, 9, 11, 18, 12, 18, 9}
	for i, wd := range widths {
		col, _ := excelize.ColumnNumberToName(i + 1)
		if err := f.SetColWidth(SheetZh, col, col, wd); err != nil {
			return err
		}
	}
	_ = f.SetPanes(SheetZh, &excelize.Panes{Freeze: true, YSplit: 1, TopLeftCell: "A2", ActivePane: "bottomLeft"})
	if err := zhChartSheet(f, rows, by, styles); err != nil {
		return err
	}
	return f.Write(w)
}

type zhStyleSet struct {
	header, text, count, minutes, percent int
	textT, countT, minutesT, percentT/* totals */ int
}

func (s zhStyleSet) of(kind int, total bool) int {
	switch kind {
	case colCount:
		return map[bool]int{false: s.count, true: s.countT}[total]
	case colMinutes, colMean:
		return map[bool]int{false: s.minutes, true: s.minutesT}[total]
	case colPercent:
		return map[bool]int{false: s.percent, true: s.percentT}[total]
	}
	return map[bool]int{false: s.text, true: s.textT}[total]
}

func zhStyles(f *excelize.File) (zhStyleSet, error) {
	var s zhStyleSet
	font := &excelize.Font{Family: "Microsoft YaHei", Size: 11}
	bold := &excelize.Font{Family: "Microsoft YaHei", Size: 11, Bold: true}
	thin := []excelize.Border{{Type: "bottom", Color: "#BFBFBF", Style: 1}}
	top := []excelize.Border{{Type: "top", Color: "#000000", Style: 2}}
	minFmt, pctFmt, cntFmt := "0.0", "0.0%", "#,##0"
	var first error
	mk := func(st *excelize.Style) int {
		id, err := f.NewStyle(st)
		if err != nil && first == nil {
			first = err
		}
		return id
	}
	s.header = mk(&excelize.Style{Font: &excelize.Font{Family: "Microsoft YaHei", Size: 11, Bold: true, Color: "#FFFFFF"},
		Fill:      excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{"#1F4E79"}},
		Alignment: &excelize.Alignment{Horizontal: "center", Vertical: "center", WrapText: true},
		Border:    []excelize.Border{{Type: "bottom", Color: "#000000", Style: 1}}})
	s.text = mk(&excelize.Style{Font: font, Border: thin})
	s.count = mk(&excelize.Style{Font: font, Border: thin, CustomNumFmt: &cntFmt})
	s.minutes = mk(&excelize.Style{Font: font, Border: thin, CustomNumFmt: &minFmt})
	s.percent = mk(&excelize.Style{Font: font, Border: thin, CustomNumFmt: &pctFmt})
	fill := excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{"#F2F2F2"}}
	s.textT = mk(&excelize.Style{Font: bold, Border: top, Fill: fill})
	s.countT = mk(&excelize.Style{Font: bold, Border: top, Fill: fill, CustomNumFmt: &cntFmt})
	s.minutesT = mk(&excelize.Style{Font: bold, Border: top, Fill: fill, CustomNumFmt: &minFmt})
	s.percentT = mk(&excelize.Style{Font: bold, Border: top, Fill: fill, CustomNumFmt: &pctFmt})
	if first != nil {
		return s, fmt.Errorf("report: styles: %w", first)
	}
	return s, nil
}

// maxChartGroups bounds the groups charted (the table has them all).
const maxChartGroups = 40

// zhChartSheet writes the sheet 图表: a table of label, tickets, served,
// mean and P90 wait (minutes) per row, and two charts over it.
func zhChartSheet(f *excelize.File, rows []Row, by string, st zhStyleSet) error {
	if _, err := f.NewSheet(ChartSheetZh); err != nil {
		return err
	}
	g := GroupTitle(by)
	hdr := []any{"期间 · " + g, "取号数", "办结数", "平均等候（分钟）", "P90 等候（分钟）"}
	if err := f.SetSheetRow(ChartSheetZh, "A1", &hdr); err != nil {
		return err
	}
	if err := f.SetCellStyle(ChartSheetZh, "A1", "E1", st.header); err != nil {
		return err
	}
	n := min(len(rows), maxChartGroups)
	for i, r := range rows[:n] {
		label := r.Group
		if r.GroupName != "" && r.GroupName != r.Group {
			label += " " + r.GroupName
		}
		if len(rows) > 0 && rows[0].Period != rows[len(rows)-1].Period {
			label = r.Period + " " + label
		}
		vals := []any{label, r.Tickets, r.Served, nanNil(r.MeanWaitS / 60), nanNil(r.P90WaitS / 60)}
		cell, _ := excelize.CoordinatesToCellName(1, i+2)
		if err := f.SetSheetRow(ChartSheetZh, cell, &vals); err != nil {
			return err
		}
		_ = f.SetCellStyle(ChartSheetZh, fmt.Sprintf("B%d", i+2), fmt.Sprintf("C%d", i+2), st.count)
		_ = f.SetCellStyle(ChartSheetZh, fmt.Sprintf("D%d", i+2), fmt.Sprintf("E%d", i+2), st.minutes)
	}
	_ = f.SetColWidth(ChartSheetZh, "A", "A", 30)
	_ = f.SetColWidth(ChartSheetZh, "B", "E", 14)
	if n == 0 {
		return f.SetCellValue(ChartSheetZh, "A2", "（无数据 no data）")
	}
	ref := func(col string) string { return fmt.Sprintf("'%s'!$%s$2:$%s$%d", ChartSheetZh, col, col, n+1) }
	name := func(col string) string { return fmt.Sprintf("'%s'!$%s$1", ChartSheetZh, col) }
	h := uint(max(320, min(900, 40+22*n)))
	if err := f.AddChart(ChartSheetZh, "G2", &excelize.Chart{
		Type:      excelize.Col,
		Title:     []excelize.RichTextRun{{Text: "取号与办结（按" + g + "）"}},
		Series:    []excelize.ChartSeries{{Name: name("B"), Categories: ref("A"), Values: ref("B")}, {Name: name("C"), Categories: ref("A"), Values: ref("C")}},
		Legend:    excelize.ChartLegend{Position: "bottom"},
		Dimension: excelize.ChartDimension{Width: 720, Height: 360},
	}); err != nil {
		return err
	}
	return f.AddChart(ChartSheetZh, "G22", &excelize.Chart{
		Type:      excelize.Bar,
		Title:     []excelize.RichTextRun{{Text: "等候时间（分钟，按" + g + "）"}},
		Series:    []excelize.ChartSeries{{Name: name("D"), Categories: ref("A"), Values: ref("D")}, {Name: name("E"), Categories: ref("A"), Values: ref("E")}},
		Legend:    excelize.ChartLegend{Position: "bottom"},
		Dimension: excelize.ChartDimension{Width: 720, Height: h},
	})
}

func nanNil(x float64) any {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return nil
	}
	return x
}
