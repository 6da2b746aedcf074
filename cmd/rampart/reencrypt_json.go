package main

import "github.com/rampart-sdk/rampart/keyring"

// reencryptReport is the --json output of keys reencrypt: the run's counts
// (snake_case, as every command prints) and the column they are of.
type reencryptReport struct {
	Table  string `json:"table"`
	Column string `json:"column"`
	keyring.ReencryptResult
}

func newReencryptReport(table, column string, r keyring.ReencryptResult) reencryptReport {
	return reencryptReport{Table: table, Column: column, ReencryptResult: r}
}
