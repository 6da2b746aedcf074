package main

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// sqlstateUndefinedTable is PostgreSQL's undefined_table: a query named a
// relation that does not exist, which for rampart's tables means the schema
// was never migrated (or the connection's search_path misses its schema).
const sqlstateUndefinedTable = "42P01"

// undefinedTableError replaces a raw "relation ... does not exist (SQLSTATE
// 42P01)" with the migrate command that creates the table. It unwraps to the
// original error, so the exit code it carried still applies.
type undefinedTableError struct {
	Table     string // as PostgreSQL named it, without a schema
	Component string // the migrate component owning it; "" if not rampart's
	Err       error
}

func (e *undefinedTableError) Error() string {
	if e.Component == "" {
		return fmt.Sprintf("table %q does not exist in the database's search_path; is --dsn the right database and schema? (%v)", e.Table, e.Err)
	}
	return fmt.Sprintf("table %q does not exist: the %s schema is not migrated in this database (or not in the connection's search_path); run: rampart migrate up --only %s",
		e.Table, e.Component, e.Component)
}

func (e *undefinedTableError) Unwrap() error { return e.Err }

var relationRE = regexp.MustCompile(`relation "([^"]+)" does not exist`)

// explainUndefinedTable returns err unchanged unless it is (or wraps) a
// PostgreSQL undefined_table error; then it returns an undefinedTableError
// naming the component whose migration creates the table.
func explainUndefinedTable(err error) error {
	var pe *pgconn.PgError
	if err == nil || !errors.As(err, &pe) || pe.Code != sqlstateUndefinedTable {
		return err
	}
	var ute *undefinedTableError
	if errors.As(err, &ute) {
		return err
	}
	table := pe.Message
	if m := relationRE.FindStringSubmatch(pe.Message); m != nil {
		table = m[1]
	}
	if i := strings.LastIndexByte(table, '.'); i >= 0 {
		table = table[i+1:]
	}
	return &undefinedTableError{Table: table, Component: componentOfTable(table), Err: err}
}

// componentOfTable maps a table to the migrate component that creates it:
// every rampart table is prefixed with its component's name.
func componentOfTable(table string) string {
	for _, c := range components() {
		if strings.HasPrefix(table, c.name+"_") {
			return c.name
		}
	}
	return ""
}
