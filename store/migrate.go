package store

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Migration is one versioned schema change, migrations/NNNN_name.sql.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// Migrations returns the embedded migrations in version order.
func Migrations() ([]Migration, error) {
	names, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var out []Migration
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(n, "migrations/"), ".sql")
		num, name, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name must be NNNN_name.sql", n)
		}
		b, err := migrationFS.ReadFile(n)
		if err != nil {
			return nil, err
		}
		out = append(out, Migration{Version: v, Name: name, SQL: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	for i := 1; i < len(out); i++ {
		if out[i].Version == out[i-1].Version {
			return nil, fmt.Errorf("migration version %d used twice", out[i].Version)
		}
	}
	return out, nil
}

// statements splits a migration into statements: each ends with ';' at the
// end of a line; "--" comment lines are dropped. A CREATE PROCEDURE or
// FUNCTION, whose body has statements of its own, ends at a line "END;" in
// column 0.
func statements(src string) []string {
	var out []string
	var cur strings.Builder
	routine := false
	for _, line := range strings.Split(src, "\n") {
		t := strings.TrimSpace(line)
		if t == "" || strings.HasPrefix(t, "--") {
			continue
		}
		if cur.Len() == 0 {
			up := strings.ToUpper(t)
			routine = strings.HasPrefix(up, "CREATE PROCEDURE") || strings.HasPrefix(up, "CREATE FUNCTION")
		}
		cur.WriteString(line)
		cur.WriteString("\n")
		if routine && strings.TrimRight(line, " \t\r") != "END;" {
			continue
		}
		if strings.HasSuffix(t, ";") {
			out = append(out, strings.TrimSuffix(strings.TrimSpace(cur.String()), ";"))
			cur.Reset()
		}
	}
	if strings.TrimSpace(cur.String()) != "" {
		out = append(out, strings.TrimSpace(cur.String()))
	}
	return out
}

// Migrate applies the migrations not yet recorded in schema_migrations.
// The programs start together, so a named lock serialises them. DDL
// commits implicitly in MySQL, so migrations are written to be re-runnable
// (IF NOT EXISTS) in case one stops half-way.
func (s *Store) Migrate(ctx context.Context) error {
	ms, err := Migrations()
	if err != nil {
		return err
	}
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return classify(fmt.Errorf("migrate: %w", err))
	}
	defer conn.Close()
	var got int
	if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK(?, 60)", "yunpan.migrate."+s.opt.MySQL.DBName).Scan(&got); err != nil {
		return classify(fmt.Errorf("migrate: lock: %w", err))
	}
	if got != 1 {
		return fmt.Errorf("migrate: another process holds the migration lock")
	}
	defer conn.ExecContext(context.Background(), "SELECT RELEASE_LOCK(?)", "yunpan.migrate."+s.opt.MySQL.DBName)
	if _, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INT          NOT NULL PRIMARY KEY,
		name       VARCHAR(255) NOT NULL,
		applied_at TIMESTAMP    NOT NULL DEFAULT CURRENT_TIMESTAMP
	) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`); err != nil {
		return classify(fmt.Errorf("migrate: %w", err))
	}
	applied := map[int]bool{}
	rows, err := conn.QueryContext(ctx, "SELECT version FROM schema_migrations")
	if err != nil {
		return classify(fmt.Errorf("migrate: %w", err))
	}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return fmt.Errorf("migrate: %w", err)
		}
		applied[v] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return classify(fmt.Errorf("migrate: %w", err))
	}
	for _, m := range ms {
		if applied[m.Version] {
			continue
		}
		for _, st := range statements(m.SQL) {
			if _, err := conn.ExecContext(ctx, st); err != nil {
				return classify(fmt.Errorf("migrate %04d_%s: %w", m.Version, m.Name, err))
			}
		}
		if _, err := conn.ExecContext(ctx, "INSERT INTO schema_migrations (version, name) VALUES (?, ?)", m.Version, m.Name); err != nil {
			return classify(fmt.Errorf("migrate %04d_%s: record: %w", m.Version, m.Name, err))
		}
		s.log.Info().Int("version", m.Version).Str("name", m.Name).Msg("migration applied")
	}
	return nil
}
