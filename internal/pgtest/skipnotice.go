package pgtest

import (
	"fmt"
	"io"
	"os"
	"sync"
)

// skipNotice makes the first skip of a test binary say, in one line outside
// the test log, that its PostgreSQL tests are skipped and why: t.Skipf alone
// is shown only with -v, so a fresh server without the test database would
// look like a green run.
var skipNotice sync.Once

// noticeSkip writes that line once per test binary.
func noticeSkip(err error) {
	skipNotice.Do(func() {
		w, closeFn := noticeWriter()
		defer closeFn()
		writeSkipNotice(w, redact(BaseURL()), err)
	})
}

// writeSkipNotice formats the line: where the tests looked, what failed, and
// how to fix it.
func writeSkipNotice(w io.Writer, url string, err error) {
	fmt.Fprintf(w, "pgtest: skipping PostgreSQL tests: no database at %s: %v (start a server, create the database, or set %s; see README.md \"PostgreSQL tests\")\n",
		url, err, EnvURL)
}

// noticeWriter is stderr when it is a terminal (go test run in one package
// directory, or with -v). Otherwise it is the controlling terminal if there
// is one: in package list mode (go test ./...) the go command discards all
// output of a package whose tests pass, and a package whose tests all
// skipped passes. Without a terminal (CI, where a missing database fails
// instead, or a redirected run) it is stderr.
func noticeWriter() (io.Writer, func()) {
	if fi, err := os.Stderr.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
		return os.Stderr, func() {}
	}
	if tty, err := os.OpenFile("/dev/tty", os.O_WRONLY, 0); err == nil {
		return io.MultiWriter(os.Stderr, tty), func() { _ = tty.Close() }
	}
	return os.Stderr, func() {}
}
