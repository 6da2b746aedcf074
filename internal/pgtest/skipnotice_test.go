package pgtest

import (
	"bytes"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSkipNoticeSaysWhy(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	writeSkipNotice(&buf, "postgres://postgres@127.0.0.1:5432/test", errors.New(`FATAL: database "test" does not exist (SQLSTATE 3D000)`))
	require.Equal(t, `pgtest: skipping PostgreSQL tests: no database at postgres://postgres@127.0.0.1:5432/test: `+
		`FATAL: database "test" does not exist (SQLSTATE 3D000) (start a server, create the database, or set RAMPART_TEST_DATABASE_URL; see README.md "PostgreSQL tests")`+"\n",
		buf.String())
}
