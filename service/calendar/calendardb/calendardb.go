package calendardb

import (
	"context"
	"fmt"

	"github.com/changzhi/redpoint/ent"
	"github.com/changzhi/redpoint/ent/calendarday"
	"github.com/changzhi/redpoint/service/calendar"
)

// CalendarLoader reads the holiday calendar from the database.
func CalendarLoader(db *ent.Client) func(context.Context) ([]calendar.Day, error) {
	return func(ctx context.Context) ([]calendar.Day, error) {
		rows, err := db.CalendarDay.Query().All(ctx)
		if err != nil {
			return nil, fmt.Errorf("app.CalendarLoader: %w", err)
		}
		days := make([]calendar.Day, len(rows))
		for i, r := range rows {
			days[i] = calendar.Day{Date: r.ID, Kind: calendar.Kind(r.Kind), Name: r.Name}
		}
		return days, nil
	}
}

// EnsureOfficialCalendar adds the holiday arrangement shipped with the
// binary, keeping any day an admin already loaded.
func EnsureOfficialCalendar(ctx context.Context, db *ent.Client) error {
	days, err := calendar.Official()
	if err != nil {
		return err
	}
	builders := make([]*ent.CalendarDayCreate, len(days))
	for i, d := range days {
		builders[i] = db.CalendarDay.Create().SetID(d.Date).SetKind(calendarday.Kind(d.Kind)).SetName(d.Name)
	}
	if err := db.CalendarDay.CreateBulk(builders...).OnConflictColumns(calendarday.FieldID).Ignore().Exec(ctx); err != nil {
		return fmt.Errorf("app.EnsureOfficialCalendar: %w", err)
	}
	return nil
}
