package store

import (
	"database/sql"
	"testing"
	"time"
)

func TestReplayLag(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)
	ago := func(s float64) time.Time { return now.Add(-time.Duration(s * float64(time.Second))) }
	span := 12 * time.Second // a 10 s bound, measured every second
	lsn := func(f float64) sql.NullFloat64 { return sql.NullFloat64{Float64: f, Valid: true} }
	none := sql.NullFloat64{}
	full := []receipt{{ago(13), 100}, {ago(3), 200}, {ago(2), 300}, {ago(1), 400}, {now, 500}}
	cases := []struct {
		name        string
		receipts    []receipt
		replayed    sql.NullFloat64
		sinceCommit sql.NullFloat64
		want        time.Duration
		wantErr     bool
	}{
		{"replayed all it received", full, lsn(500), lsn(3600), 0, false},
		{"replaying what just arrived", full, lsn(450), lsn(3600), 0, false},
		{"a long transaction streaming in: no commit for long, replay keeps up", full, lsn(499), lsn(40), 0, false},
		{"behind what arrived 1 s ago", full, lsn(300), lsn(0.5), time.Second, false},
		{"behind what arrived 3 s ago", full, lsn(150), lsn(0.5), 3 * time.Second, false},
		{"behind the whole history, which spans the bound", full, lsn(50), lsn(0.5), 13 * time.Second, false},
		{"behind a history just begun: the last commit's age", []receipt{{ago(1), 400}, {now, 500}}, lsn(300), lsn(30), 30 * time.Second, false},
		{"no WAL receiver: the last commit's age", nil, lsn(300), lsn(7), 7 * time.Second, false},
		{"no WAL receiver and no commit replayed", nil, lsn(300), none, 0, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := replayLag(now, tc.receipts, span, tc.replayed, tc.sinceCommit)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("replayLag = %v, %v; want %v, error %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}
