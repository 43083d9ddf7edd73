package scaleseed

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"entgo.io/ent/dialect"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// sink writes rows into a table on the seed's one connection, inside the
// transaction it began: PostgreSQL's COPY, or SQLite's multi-row INSERTs.
type sink struct {
	conn    *sql.Conn
	dialect string
}

// sqliteMaxParams stays under SQLite's 32,766 bound parameters per statement.
const sqliteMaxParams = 30000

func (s sink) copy(ctx context.Context, table string, cols []string, rows [][]any) error {
	if len(rows) == 0 {
		return nil
	}
	if s.dialect == dialect.Postgres {
		return s.conn.Raw(func(dc any) error {
			c, ok := dc.(*stdlib.Conn)
			if !ok {
				return errors.New("scaleseed: not a pgx connection")
			}
			n, err := c.Conn().CopyFrom(ctx, pgx.Identifier{table}, cols, pgx.CopyFromRows(rows))
			if err != nil {
				return fmt.Errorf("copy %s: %w", table, err)
			}
			if int(n) != len(rows) {
				return fmt.Errorf("copy %s: %d of %d rows", table, n, len(rows))
			}
			return nil
		})
	}
	per := sqliteMaxParams / len(cols)
	for lo := 0; lo < len(rows); lo += per {
		batch := rows[lo:min(lo+per, len(rows))]
		var q strings.Builder
		q.WriteString("INSERT INTO `" + table + "` (`" + strings.Join(cols, "`, `") + "`) VALUES ")
		one := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(cols)), ", ") + ")"
		args := make([]any, 0, len(batch)*len(cols))
		for i, r := range batch {
			if i > 0 {
				q.WriteString(", ")
			}
			q.WriteString(one)
			args = append(args, r...)
		}
		if _, err := s.conn.ExecContext(ctx, q.String(), args...); err != nil {
			return fmt.Errorf("insert %s: %w", table, err)
		}
	}
	return nil
}

func (s sink) exec(ctx context.Context, query string) error {
	_, err := s.conn.ExecContext(ctx, query)
	return err
}

// nullable is p's value, or NULL.
func nullable[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}
