// Package calendardb keeps the holiday calendar in the database (the
// calendar_days table): it seeds the official arrangement shipped with the
// binary, loads the days for calendar.Cache, and serves CalendarService,
// through which an admin replaces a year's days. The working-day arithmetic
// stays in service/calendar, which knows nothing of storage.
package calendardb

import (
	"context"
	"fmt"

	"github.com/changzhi/redpoint/ent"
	"github.com/changzhi/redpoint/ent/calendarday"
	"github.com/changzhi/redpoint/service/calendar"
)

// Loader reads the holiday calendar from the database, for calendar.NewCache.
func Loader(db *ent.Client) func(context.Context) ([]calendar.Day, error) {
	return func(ctx context.Context) ([]calendar.Day, error) {
		rows, err := db.CalendarDay.Query().All(ctx)
		if err != nil {
			return nil, fmt.Errorf("calendardb.Loader: %w", err)
		}
		days := make([]calendar.Day, len(rows))
		for i, r := range rows {
			days[i] = calendar.Day{Date: r.ID, Kind: calendar.Kind(r.Kind), Name: r.Name}
		}
		return days, nil
	}
}

// EnsureOfficial adds the holiday arrangement shipped with the binary,
// keeping any day an admin already loaded.
func EnsureOfficial(ctx context.Context, db *ent.Client) error {
	days, err := calendar.Official()
	if err != nil {
		return err
	}
	builders := make([]*ent.CalendarDayCreate, len(days))
	for i, d := range days {
		builders[i] = db.CalendarDay.Create().SetID(d.Date).SetKind(calendarday.Kind(d.Kind)).SetName(d.Name)
	}
	if err := db.CalendarDay.CreateBulk(builders...).OnConflictColumns(calendarday.FieldID).Ignore().Exec(ctx); err != nil {
		return fmt.Errorf("calendardb.EnsureOfficial: %w", err)
	}
	return nil
}
