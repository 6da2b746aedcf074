package main

import "github.com/rampart-sdk/rampart/keyring"

// reencryptReport is the --json output of keys reencrypt, in the snake_case
// every other command prints (keyring.ReencryptResult has no JSON tags).
type reencryptReport struct {
	Table     string `json:"table"`
	Column    string `json:"column"`
	Scanned   int64  `json:"scanned"`
	Rewritten int64  `json:"rewritten"`
	Current   int64  `json:"current"`
	Conflicts int64  `json:"conflicts"`
	LastID    string `json:"last_id"`
}

func newReencryptReport(table, column string, r keyring.ReencryptResult) reencryptReport {
	return reencryptReport{Table: table, Column: column, Scanned: r.Scanned, Rewritten: r.Rewritten,
		Current: r.Current, Conflicts: r.Conflicts, LastID: r.LastID}
}
