package report

import (
	"fmt"
	"strings"

	"github.com/xuri/excelize/v2"
)

// reviewSheetName is the quarterly review's sheet.
const reviewSheetName = "季观摩"

// reviewColumns of the 季观摩 sheet, zh-CN: a region's quarter figures,
// each followed by its change since the quarter before (较上季).
var reviewColumns = []string{"层级", "名称", "所属县区",
	"受理数", "受理数较上季", "办结数", "办结数较上季", "超期办结", "超期办结较上季",
	"按时办结率", "按时办结率较上季", "评价数", "满意率", "满意率较上季",
	"得分", "得分较上季", "排名", "参评数", "上季排名", "名次变化",
	"代办点数", "无业务代办点", "最佳代办点（得分）", "最弱代办点（得分）"}

// reviewSheet writes review as the 季观摩 sheet: the counties, then the
// townships, one row each; a rank of 0 (not on the board) is left empty.
func reviewSheet(f *excelize.File, review *Review) error {
	header, _ := f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true}, Fill: excelize.Fill{Type: "pattern", Color: []string{"#F2DCDB"}, Pattern: 1},
		Alignment: &excelize.Alignment{WrapText: true, Vertical: "center"}})
	percent, _ := f.NewStyle(&excelize.Style{NumFmt: 10}) // 0.00%
	decimal, _ := f.NewStyle(&excelize.Style{NumFmt: 2})  // 0.00
	pctDelta := "+0.00%;-0.00%;0.00%"
	signedPct, _ := f.NewStyle(&excelize.Style{CustomNumFmt: &pctDelta})
	decDelta := "+0.00;-0.00;0.00"
	signedDec, _ := f.NewStyle(&excelize.Style{CustomNumFmt: &decDelta})
	intDelta := "+0;-0;0"
	signedInt, _ := f.NewStyle(&excelize.Style{CustomNumFmt: &intDelta})
	sw, err := f.NewStreamWriter(reviewSheetName)
	if err != nil {
		return err
	}
	_ = sw.SetColWidth(1, 1, 8)
	_ = sw.SetColWidth(2, 3, 16)
	_ = sw.SetColWidth(4, len(reviewColumns)-2, 12)
	_ = sw.SetColWidth(len(reviewColumns)-1, len(reviewColumns), 40)
	if err := sw.SetPanes(&excelize.Panes{Freeze: true, XSplit: 2, YSplit: 1, TopLeftCell: "C2", ActivePane: "bottomRight"}); err != nil {
		return err
	}
	head := make([]any, len(reviewColumns))
	for i, c := range reviewColumns {
		head[i] = excelize.Cell{Value: c, StyleID: header}
	}
	if err := sw.SetRow("A1", head, excelize.RowOpts{Height: 30}); err != nil {
		return err
	}
	rank := func(n int) any {
		if n == 0 {
			return "—"
		}
		return n
	}
	line := 2
	for _, group := range []struct {
		level string
		rows  []ReviewRow
	}{{"县区", review.Counties}, {"乡镇", review.Townships}} {
		for _, r := range group.rows {
			c, p := r.Current, r.Previous
			var change any = ""
			if c.Rank > 0 && p.Rank > 0 {
				change = excelize.Cell{Value: r.RankChange, StyleID: signedInt}
			}
			rankOf := any("")
			if c.RankOf > 0 {
				rankOf = c.RankOf
			}
			vals := []any{group.level, r.Name, r.County,
				c.Received, excelize.Cell{Value: c.Received - p.Received, StyleID: signedInt},
				c.Completed, excelize.Cell{Value: c.Completed - p.Completed, StyleID: signedInt},
				c.CompletedLate, excelize.Cell{Value: c.CompletedLate - p.CompletedLate, StyleID: signedInt},
				excelize.Cell{Value: c.OnTimeRate, StyleID: percent}, excelize.Cell{Value: c.OnTimeRate - p.OnTimeRate, StyleID: signedPct},
				c.Ratings,
				excelize.Cell{Value: c.SatisfactionRate, StyleID: percent}, excelize.Cell{Value: c.SatisfactionRate - p.SatisfactionRate, StyleID: signedPct},
				excelize.Cell{Value: c.Score, StyleID: decimal}, excelize.Cell{Value: roundScore(c.Score - p.Score), StyleID: signedDec},
				rank(c.Rank), rankOf, rank(p.Rank), change,
				r.Points, r.Idle, pointList(r.Best), pointList(r.Weakest)}
			cell, _ := excelize.CoordinatesToCellName(1, line)
			if err := sw.SetRow(cell, vals); err != nil {
				return err
			}
			line++
		}
	}
	return sw.Flush()
}

// pointList is e.g. 东关村代办点（35.00）、西关村代办点（35.00）.
func pointList(ps []ReviewPoint) string {
	parts := make([]string, len(ps))
	for i, p := range ps {
		parts[i] = fmt.Sprintf("%s（%.2f）", p.Name, p.Score)
	}
	return strings.Join(parts, "、")
}
