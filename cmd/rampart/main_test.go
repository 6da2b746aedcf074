package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// runCLI runs the CLI in-process and returns its exit code and output.
func runCLI(t *testing.T, environ map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	e := &env{
		stdin:  strings.NewReader(""),
		stdout: &out,
		stderr: &errb,
		getenv: func(k string) string { return environ[k] },
	}
	code = run(context.Background(), e, args)
	return code, out.String(), errb.String()
}

func TestTopLevel(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		args     []string
		code     int
		inStdout string
		inStderr string
	}{
		{"no args", nil, exitUsage, "", "Usage:"},
		{"help", []string{"help"}, exitOK, "Commands:", ""},
		{"--help", []string{"--help"}, exitOK, "Exit codes", ""},
		{"version", []string{"version"}, exitOK, "rampart ", ""},
		{"unknown", []string{"frobnicate"}, exitUsage, "", `unknown command "frobnicate"`},
		{"help unknown", []string{"help", "nope"}, exitUsage, "", `unknown command "nope"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr := runCLI(t, nil, tc.args...)
			require.Equal(t, tc.code, code)
			require.Contains(t, stdout, tc.inStdout)
			require.Contains(t, stderr, tc.inStderr)
		})
	}
}

// TestEveryGroupHasHelp walks every group and verb: help must work at each
// level, and an unknown verb must be a usage error.
func TestEveryGroupHasHelp(t *testing.T) {
	t.Parallel()
	for _, g := range groups() {
		if g.run != nil {
			code, _, stderr := runCLI(t, nil, g.name, "--help")
			require.Equal(t, exitOK, code, g.name)
			require.Contains(t, stderr, "Usage: rampart "+g.name)
			code, _, _ = runCLI(t, nil, "help", g.name)
			require.Equal(t, exitOK, code, g.name)
			continue
		}
		code, stdout, _ := runCLI(t, nil, g.name, "--help")
		require.Equal(t, exitOK, code, g.name)
		require.Contains(t, stdout, g.summary)

		code, stdout, _ = runCLI(t, nil, "help", g.name)
		require.Equal(t, exitOK, code, g.name)
		require.Contains(t, stdout, g.name)

		require.NotEmpty(t, g.verbs, "group %s has neither verbs nor a command of its own", g.name)
		code, _, _ = runCLI(t, nil, g.name, "no-such-verb")
		require.Equal(t, exitUsage, code, g.name)
		for _, v := range g.verbs {
			code, _, _ := runCLI(t, nil, g.name, v.name, "--help")
			require.Equal(t, exitOK, code, "%s %s --help", g.name, v.name)
		}
	}
}

// TestExitCodes pins the mapping from errors to documented exit codes.
func TestExitCodes(t *testing.T) {
	t.Parallel()
	e := &env{stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}, getenv: func(string) string { return "" }}
	require.Equal(t, exitOK, report(e, "x", nil))
	require.Equal(t, exitFindings, report(e, "x", findings("chain broken at %d", 7)))
	require.Equal(t, exitUsage, report(e, "x", usageErr("bad flag")))
	require.Equal(t, exitOperational, report(e, "x", operational(context.Canceled)))
	require.Equal(t, exitOperational, report(e, "x", context.DeadlineExceeded))
}

func TestFlagsHelpers(t *testing.T) {
	t.Parallel()
	var errb bytes.Buffer
	e := &env{stdout: &bytes.Buffer{}, stderr: &errb, getenv: func(k string) string {
		if k == "DATABASE_URL" {
			return "postgres://from-env"
		}
		return ""
	}}
	fs := newFlags(e, "demo", "demo [flags]")
	dsn := dsnFlag(e, fs)
	require.NoError(t, parseFlags(fs, nil))
	require.Equal(t, "postgres://from-env", *dsn)

	fs = newFlags(e, "demo", "demo [flags]")
	dsnFlag(e, fs)
	err := parseFlags(fs, []string{"--nope"})
	require.Equal(t, exitUsage, report(e, "demo", err))

	fs = newFlags(e, "demo", "demo [flags]")
	require.Equal(t, exitOK, report(e, "demo", parseFlags(fs, []string{"--help"})))
	require.Contains(t, errb.String(), "Usage: rampart demo [flags]")
}
