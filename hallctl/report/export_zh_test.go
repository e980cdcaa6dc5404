package report

import (
	"archive/zip"
	"bytes"
	"encoding/csv"
	"strconv"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"
)

func handRows(t *testing.T) []Row {
	t.Helper()
	hall := testHall(t)
	rows, err := Compute(ledgerOf(hall, handDay()), hall, Opts{From: "2026-11-20", To: "2026-11-21", Period: "day", By: "item"})
	if err != nil || len(rows) != 3 {
		t.Fatalf("rows %v %v", rows, err)
	}
	return rows
}

// The CSV for people: BOM, Chinese headers, minutes, percentages and a
// totals row that is the sum of the rows.
func TestCSVZh(t *testing.T) {
	rows := handRows(t)
	var b bytes.Buffer
	if err := WriteCSVZh(&b, rows, "item"); err != nil {
		t.Fatal(err)
	}
	raw := b.Bytes()
	if !bytes.HasPrefix(raw, []byte{0xEF, 0xBB, 0xBF}) {
		t.Fatalf("no UTF-8 BOM: % x", raw[:8])
	}
	recs, err := csv.NewReader(bytes.NewReader(raw[3:])).ReadAll()
	if err != nil || len(recs) != 5 {
		t.Fatalf("csv %v %v", recs, err)
	}
	if got := strings.Join(recs[0], ","); got != "期间,事项,事项名称,取号数,办结数,过号数,平均等候（分钟）,P90 等候（分钟）,平均办理（分钟）,承诺件办结数,按期办结率,提前办结率,非常不满意,不满意,基本满意,满意,非常满意,满意率,好评率,差评率,差评整改率,实名差评回访整改率,到期承诺件数,按期办结率（到期件）,平均评价" {
		t.Errorf("header %s", got)
	}
	// HR-001: waits 1100 s mean, 1500 s P90, service 900 s; rates 0.5, 0.5, 1.
	if got := strings.Join(recs[1], ","); got != "2026-11-20,HR-001,人才引进,3,2,1,18.3,25.0,15.0,2,50.0%,50.0%,0,0,0,0,1,100.0%,100.0%,0.0%,,,0,,5.0" {
		t.Errorf("row 1 %s", got)
	}
	if got := strings.Join(recs[3], ","); got != "2026-11-21,TAX-01,发票,1,1,0,1.0,1.0,1.0,0,,,0,0,0,0,0,,,,,,0,," {
		t.Errorf("row 3 (no data is empty) %s", got)
	}
	// 合计: counts summed; mean wait (3×1100+120+60)/5 = 696 s = 11.6 min,
	// mean service (2×900+300+60)/4 = 540 s = 9.0 min; P90 is not summed.
	total := recs[4]
	if got := strings.Join(total, ","); got != "合计,,,6,4,1,11.6,,9.0,2,50.0%,50.0%,0,1,0,0,1,50.0%,50.0%,50.0%,0.0%,,0,,3.5" {
		t.Errorf("totals %s", got)
	}
	for _, col := range []int{3, 4, 5, 9, 12, 13, 14, 15, 16} {
		sum := 0
		for _, r := range recs[1:4] {
			n, _ := strconv.Atoi(r[col])
			sum += n
		}
		if strconv.Itoa(sum) != total[col] {
			t.Errorf("column %s: rows sum to %d, totals say %s", recs[0][col], sum, total[col])
		}
	}
	// The header names the grouping.
	b.Reset()
	_ = WriteCSVZh(&b, nil, "clerk")
	if !strings.Contains(b.String(), "期间,人员,人员名称") || !strings.Contains(b.String(), "合计,,,0,0,0,,,,0") {
		t.Errorf("empty clerk report:\n%s", b.String())
	}
}

// The XLSX for people: formatted columns, a styled header, a totals row,
// and the chart sheet with its two charts.
func TestXLSXZh(t *testing.T) {
	rows := handRows(t)
	var b bytes.Buffer
	if err := WriteXLSXZh(&b, rows, "item"); err != nil {
		t.Fatal(err)
	}
	raw := b.Bytes()
	f, err := excelize.OpenReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if got := f.GetSheetList(); len(got) != 2 || got[0] != SheetZh || got[1] != ChartSheetZh {
		t.Errorf("sheets %v", got)
	}
	xr, err := f.GetRows(SheetZh) // formatted as Excel shows them
	if err != nil || len(xr) != 5 {
		t.Fatalf("rows %v %v", xr, err)
	}
	if xr[0][0] != "期间" || xr[0][17] != "满意率" {
		t.Errorf("header %v", xr[0])
	}
	if got := strings.Join(xr[1], ","); got != "2026-11-20,HR-001,人才引进,3,2,1,18.3,25.0,15.0,2,50.0%,50.0%,0,0,0,0,1,100.0%,100.0%,0.0%,,,0,,5.0" {
		t.Errorf("row 1 %s", got)
	}
	if got := strings.Join(xr[4], ","); !strings.HasPrefix(got, "合计,,,6,4,1,11.6,,9.0,2,50.0%,50.0%,0,1,0,0,1,50.0%") {
		t.Errorf("totals %s", got)
	}
	// Numbers stay numbers (minutes, ratios) under their formats.
	if v, _ := f.GetCellValue(SheetZh, "K2", excelize.Options{RawCellValue: true}); v != "0.5" {
		t.Errorf("K2 raw %q, want the ratio 0.5", v)
	}
	if w, _ := f.GetColWidth(SheetZh, "C"); w < 15 {
		t.Errorf("name column width %v", w)
	}
	hs, _ := f.GetCellStyle(SheetZh, "A1")
	st, err := f.GetStyle(hs)
	if err != nil || st.Font == nil || !st.Font.Bold || len(st.Fill.Color) == 0 {
		t.Errorf("header style %+v %v", st, err)
	}
	ts, _ := f.GetCellStyle(SheetZh, "D5")
	if st, _ := f.GetStyle(ts); st == nil || st.Font == nil || !st.Font.Bold {
		t.Error("totals row not bold")
	}
	cr, _ := f.GetRows(ChartSheetZh)
	if len(cr) != 4 || cr[1][0] != "2026-11-20 HR-001 人才引进" || cr[1][1] != "3" {
		t.Errorf("chart data %v", cr)
	}
	zr, err := zip.NewReader(bytes.NewReader(raw), int64(len(raw)))
	if err != nil {
		t.Fatal(err)
	}
	charts := 0
	for _, zf := range zr.File {
		if strings.HasPrefix(zf.Name, "xl/charts/chart") {
			charts++
			rc, _ := zf.Open()
			var cb bytes.Buffer
			_, _ = cb.ReadFrom(rc)
			rc.Close()
			if !strings.Contains(cb.String(), "图表") {
				t.Errorf("%s does not chart the 图表 sheet", zf.Name)
			}
		}
	}
	if charts != 2 {
		t.Errorf("%d charts, want 2", charts)
	}
	// No rows: a valid file that says so.
	b.Reset()
	if err := WriteXLSXZh(&b, nil, "department"); err != nil {
		t.Fatal(err)
	}
}
