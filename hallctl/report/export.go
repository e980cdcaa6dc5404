package report

import (
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"strconv"

	"github.com/xuri/excelize/v2"
)

// Header is the column list of CSV and XLSX exports.
var Header = []string{"period", "group", "name", "tickets", "served", "no_shows", "mean_wait_s", "p90_wait_s",
	"mean_service_s", "completed", "on_time_rate", "early_rate", "rating_1", "rating_2", "rating_3", "rating_4", "rating_5", "satisfaction",
	// issue 14: 好评率, 差评率, 差评整改率, 实名差评回访整改率, 按期办结率 over the cases due, 平均评价
	"good_rate", "bad_rate", "rectify_rate", "named_rectify_rate", "due", "due_on_time_rate", "mean_rating", "appeals_accepted"}

func (r Row) cells() []any {
	return []any{r.Period, r.Group, r.GroupName, r.Tickets, r.Served, r.NoShows, num(r.MeanWaitS), num(r.P90WaitS),
		num(r.MeanSvcS), r.Completed, num(r.OnTimeRate()), num(r.EarlyRate()),
		r.Ratings[0], r.Ratings[1], r.Ratings[2], r.Ratings[3], r.Ratings[4], num(r.Satisfaction()),
		num(r.GoodRate()), num(r.BadRate()), num(r.RectifyRate()), num(r.NamedRectifyRate()), r.Due, num(r.DueOnTimeRate()),
		num(r.MeanRating()), r.AppealsAccepted}
}

// num rounds to 3 decimals; NaN becomes an empty cell.
func num(x float64) any {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return ""
	}
	return math.Round(x*1000) / 1000
}

// WriteCSV writes the rows with Header (UTF-8, comma-separated).
func WriteCSV(w io.Writer, rows []Row) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(Header); err != nil {
		return err
	}
	for _, r := range rows {
		cs := r.cells()
		rec := make([]string, len(cs))
		for i, c := range cs {
			switch v := c.(type) {
			case float64:
				rec[i] = strconv.FormatFloat(v, 'f', -1, 64)
			default:
				rec[i] = fmt.Sprint(v)
			}
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// WriteXLSX writes the rows as one sheet "report" (excelize).
func WriteXLSX(w io.Writer, rows []Row) error {
	f := excelize.NewFile()
	defer f.Close()
	const sheet = "report"
	if err := f.SetSheetName("Sheet1", sheet); err != nil {
		return err
	}
	hdr := make([]any, len(Header))
	for i, h := range Header {
		hdr[i] = h
	}
	if err := f.SetSheetRow(sheet, "A1", &hdr); err != nil {
		return err
	}
	for i, r := range rows {
		cells := r.cells()
		cell, _ := excelize.CoordinatesToCellName(1, i+2)
		if err := f.SetSheetRow(sheet, cell, &cells); err != nil {
			return err
		}
	}
	_ = f.SetPanes(sheet, &excelize.Panes{Freeze: true, YSplit: 1, TopLeftCell: "A2", ActivePane: "bottomLeft"})
	return f.Write(w)
}
