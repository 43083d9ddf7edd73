package report

import (
	"bytes"
	"context"
	"fmt"

	"github.com/xuri/excelize/v2"

	"github.com/changzhi/redpoint/service/calendar"
)

// columns of every sheet, zh-CN.
var columns = []string{"名称", "受理数", "办结数", "办理中", "待补正", "当前超期", "超期办结", "按时办结率",
	"办理时长中位数（工作日）", "办理时长P90（工作日）", "评价数", "满意率", "差评数", "待回访", "督办数",
	"已授权数", "授权率", "重新办理数", "重新办理率"}

var groupSheets = map[GroupBy]string{ByChildRegion: "按下级地区", ByServicePoint: "按代办点", ByAgent: "按代办员", ByErrandType: "按事项"}

func cells(r Row, name string) []any {
	return []any{name, r.Received, r.Completed, r.InProgress, r.NeedsMaterials, r.Overdue, r.CompletedLate, r.OnTimeRate(),
		r.MedianDays, r.P90Days, r.Ratings, r.SatisfactionRate(), r.BadRatings, r.OpenFollowUps, r.Escalations,
		r.Consented, r.ConsentRate(), r.Reopened, r.ReopenRate()}
}

// Workbook builds the report of q.Region: the quarterly review's sheet
// (季观摩) first when review is not nil, then a summary sheet with the
// total, then one sheet per grouping the region has. Rows are streamed, so
// a county-wide report stays small in memory.
func (w *Workloads) Workbook(ctx context.Context, q Query, title string, review *Review) ([]byte, error) {
	w = w.pinned(ctx)
	f := excelize.NewFile()
	// Close only removes the stream writers' temporary files; the workbook
	// is written to memory below, and no logger is at hand here.
	defer func() { _ = f.Close() }()
	header, _ := f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true}, Fill: excelize.Fill{Type: "pattern", Color: []string{"#F2DCDB"}, Pattern: 1}})
	percent, _ := f.NewStyle(&excelize.Style{NumFmt: 10}) // 0.00%
	decimal, _ := f.NewStyle(&excelize.Style{NumFmt: 2})  // 0.00
	summary := "汇总"
	if review != nil {
		if err := f.SetSheetName("Sheet1", reviewSheetName); err != nil {
			return nil, err
		}
		if err := reviewSheet(f, review); err != nil {
			return nil, err
		}
		if _, err := f.NewSheet(summary); err != nil {
			return nil, err
		}
	} else if err := f.SetSheetName("Sheet1", summary); err != nil {
		return nil, err
	}
	start := q.Start.In(calendar.Location).Format("2006-01-02")
	end := q.End.In(calendar.Location).AddDate(0, 0, -1).Format("2006-01-02")
	sheets := []struct {
		name string
		rows []Row
	}{{summary, nil}}
	for _, g := range Groupings {
		if g == ByChildRegion {
			if _, ok := childDigits(q.Region); !ok {
				continue
			}
		}
		gq := q
		gq.GroupBy = g
		var rows []Row
		var err error
		if sheets[0].rows == nil {
			// The total comes with the first grouping: its counts are the
			// groups' sums, as in GetWorkload.
			var total Row
			rows, total, err = w.RowsAndTotal(ctx, gq)
			sheets[0].rows = []Row{total}
		} else {
			rows, err = w.Rows(ctx, gq)
		}
		if err != nil {
			return nil, err
		}
		if _, err := f.NewSheet(groupSheets[g]); err != nil {
			return nil, err
		}
		sheets = append(sheets, struct {
			name string
			rows []Row
		}{groupSheets[g], rows})
	}
	for _, sh := range sheets {
		sw, err := f.NewStreamWriter(sh.name)
		if err != nil {
			return nil, err
		}
		_ = sw.SetColWidth(1, 1, 34)
		_ = sw.SetColWidth(2, len(columns), 14)
		if err := sw.SetPanes(&excelize.Panes{Freeze: true, YSplit: 1, TopLeftCell: "A2", ActivePane: "bottomLeft"}); err != nil {
			return nil, err
		}
		head := make([]any, len(columns))
		for i, c := range columns {
			head[i] = excelize.Cell{Value: c, StyleID: header}
		}
		if err := sw.SetRow("A1", head); err != nil {
			return nil, err
		}
		for i, r := range sh.rows {
			name := r.Name
			if sh.name == summary {
				name = fmt.Sprintf("%s（%s 至 %s）", title, start, end)
			}
			vals := cells(r, name)
			for _, j := range []int{7, 11, 16, 18} { // 按时办结率, 满意率, 授权率, 重新办理率
				vals[j] = excelize.Cell{Value: vals[j], StyleID: percent}
			}
			for _, j := range []int{8, 9} {
				vals[j] = excelize.Cell{Value: vals[j], StyleID: decimal}
			}
			cell, _ := excelize.CoordinatesToCellName(1, i+2)
			if err := sw.SetRow(cell, vals); err != nil {
				return nil, err
			}
		}
		if err := sw.Flush(); err != nil {
			return nil, err
		}
	}
	var buf bytes.Buffer
	if err := f.Write(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
