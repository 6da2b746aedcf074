// Command rampart operates a rampart deployment: keys, audit log, privacy
// jobs, compliance reports, migrations and a posture check.
//
// Usage:
//
//	rampart <group> <verb> [flags]
//	rampart help [group]
//	rampart version
//
// Exit codes, which scripts and CI can rely on:
//
//	0  success
//	1  the command ran and found a problem (a chain that does not verify, a
//	   failing control, a guardrail violation, a failed doctor check)
//	2  usage error: unknown command, bad flag or argument
//	3  operational error: the database, a file or a key could not be used
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"sort"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Exit codes; see the package comment.
const (
	exitOK          = 0
	exitFindings    = 1
	exitUsage       = 2
	exitOperational = 3
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, newEnv(), os.Args[1:])
	stop()
	os.Exit(code)
}

// env is everything a command may touch outside its arguments, so tests can
// run commands in-process with buffers and a fake environment.
type env struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
	// stderrIsTerminal decides whether long jobs draw progress.
	stderrIsTerminal bool
}

func newEnv() *env {
	return &env{
		stdin:            os.Stdin,
		stdout:           os.Stdout,
		stderr:           os.Stderr,
		getenv:           os.Getenv,
		stderrIsTerminal: isTerminal(os.Stderr),
	}
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// A group is the first word of a command line (keys, audit, ...). A group
// with run set is a command of its own (rampart doctor --dsn ...) and has
// no verbs. The summary says what the group is about and never names its
// verbs: the help lists those from verbs, the table that dispatches them.
type group struct {
	name    string
	summary string
	verbs   []verb
	run     func(ctx context.Context, e *env, args []string) error
}

// A verb is the second word; run receives the remaining arguments.
type verb struct {
	name    string
	summary string
	run     func(ctx context.Context, e *env, args []string) error
}

// groups lists every command group. Each lives in a file of its own.
func groups() []group {
	return []group{
		keysGroup(),
		auditGroup(),
		privacyGroup(),
		complianceGroup(),
		migrateGroup(),
		doctorGroup(),
	}
}

// exitError carries an exit code with the error that explains it.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func usageErr(format string, a ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, a...)}
}

func findings(format string, a ...any) error {
	return &exitError{code: exitFindings, err: fmt.Errorf(format, a...)}
}

func operational(err error) error {
	return &exitError{code: exitOperational, err: err}
}

func run(ctx context.Context, e *env, args []string) int {
	if len(args) == 0 {
		printUsage(e.stderr)
		return exitUsage
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		if len(args) > 1 {
			if g, ok := findGroup(args[1]); ok && g.run != nil {
				return runGroup(ctx, e, g, []string{"--help"})
			} else if ok {
				printGroupUsage(e.stdout, g)
				return exitOK
			}
			fmt.Fprintf(e.stderr, "rampart: unknown command %q\n", args[1])
			return exitUsage
		}
		printUsage(e.stdout)
		return exitOK
	case "version", "--version":
		fmt.Fprintf(e.stdout, "rampart %s\n", version())
		return exitOK
	}
	g, ok := findGroup(args[0])
	if !ok {
		fmt.Fprintf(e.stderr, "rampart: unknown command %q\n\n", args[0])
		printUsage(e.stderr)
		return exitUsage
	}
	return runGroup(ctx, e, g, args[1:])
}

func runGroup(ctx context.Context, e *env, g group, args []string) int {
	if g.run != nil {
		return report(e, g.name, g.run(ctx, e, args))
	}
	if len(args) == 0 {
		printGroupUsage(e.stderr, g)
		return exitUsage
	}
	if isHelp(args[0]) {
		printGroupUsage(e.stdout, g)
		return exitOK
	}
	for _, v := range g.verbs {
		if v.name != args[0] {
			continue
		}
		err := v.run(ctx, e, args[1:])
		return report(e, g.name+" "+v.name, err)
	}
	fmt.Fprintf(e.stderr, "rampart %s: unknown command %q\n\n", g.name, args[0])
	printGroupUsage(e.stderr, g)
	return exitUsage
}

// report prints err (if any) and maps it to an exit code.
func report(e *env, cmd string, err error) int {
	if err == nil {
		return exitOK
	}
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	err = explainUndefinedTable(err)
	fmt.Fprintf(e.stderr, "rampart %s: %v\n", cmd, err)
	var xe *exitError
	if errors.As(err, &xe) {
		return xe.code
	}
	return exitOperational
}

func isHelp(s string) bool {
	switch s {
	case "help", "-h", "-help", "--help":
		return true
	}
	return false
}

func findGroup(name string) (group, bool) {
	for _, g := range groups() {
		if g.name == name {
			return g, true
		}
	}
	return group{}, false
}

func printUsage(w io.Writer) {
	fmt.Fprint(w, `rampart operates a rampart deployment.

Usage:
  rampart <command> <verb> [flags]

Commands:
`)
	for _, g := range groups() {
		fmt.Fprintf(w, "  %-12s %s\n", g.name, groupLine(g))
	}
	fmt.Fprint(w, `  help         show help for a command
  version      print the version

Run "rampart <command> --help" for the verbs of a command.

Exit codes: 0 success, 1 problems found, 2 usage error, 3 operational error.
`)
}

// groupLine is a group's line in the top-level help: its summary, then its
// verbs taken from the same table that dispatches them, so the help can
// neither list a verb that does not exist nor omit one that does.
func groupLine(g group) string {
	if len(g.verbs) == 0 {
		return g.summary
	}
	names := make([]string, len(g.verbs))
	for i, v := range g.verbs {
		names[i] = v.name
	}
	return g.summary + ": " + strings.Join(names, ", ")
}

func printGroupUsage(w io.Writer, g group) {
	fmt.Fprintf(w, "rampart %s: %s\n\nUsage:\n  rampart %s <verb> [flags]\n\nVerbs:\n", g.name, g.summary, g.name)
	verbs := append([]verb(nil), g.verbs...)
	sort.Slice(verbs, func(i, j int) bool { return verbs[i].name < verbs[j].name })
	for _, v := range verbs {
		fmt.Fprintf(w, "  %-14s %s\n", v.name, v.summary)
	}
	fmt.Fprintf(w, "\nRun \"rampart %s <verb> --help\" for the flags of a verb.\n", g.name)
}

// newFlags returns a flag set that writes its usage to e.stderr and reports
// errors instead of exiting, so commands stay testable. The flag package
// prints a parse error to the set's output before returning it; that output
// is discarded, since report prints the returned error once, after the usage.
func newFlags(e *env, cmd, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "Usage: rampart %s\n", synopsis)
		if hasFlags(fs) {
			fmt.Fprintln(e.stderr, "\nFlags:")
			printDefaults(e, fs)
		}
	}
	return fs
}

// printDefaults prints the flags of fs to e.stderr (a set from newFlags
// otherwise discards its output).
func printDefaults(e *env, fs *flag.FlagSet) {
	fs.SetOutput(e.stderr)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
}

func hasFlags(fs *flag.FlagSet) bool {
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	return n > 0
}

// parseFlags parses args and turns a flag error into a usage error.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageErr("%v", err)
	}
	return nil
}

// dsnFlag registers --dsn, defaulting to DATABASE_URL.
func dsnFlag(e *env, fs *flag.FlagSet) *string {
	return fs.String("dsn", e.getenv("DATABASE_URL"), "PostgreSQL connection URL (default $DATABASE_URL)")
}

func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}

// connect opens a pool on dsn and checks that the server answers. Errors are
// operational (exit 3); pgx redacts a password in the URL from its errors.
func connect(ctx context.Context, dsn string) (*pgxpool.Pool, error) {
	if dsn == "" {
		return nil, usageErr("--dsn or DATABASE_URL is required")
	}
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		return nil, operational(fmt.Errorf("database: %w", err))
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, operational(fmt.Errorf("database: %w", err))
	}
	return pool, nil
}

// writeJSON prints v as indented JSON, the --json output of every command.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
