package pgstore_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/rampart-sdk/rampart/keyring"
	"github.com/stretchr/testify/require"
)

// TestGuardrailOpensASample: counting key IDs cannot tell a key replaced
// under the same ID; opening a sample of the values under each ID can. The
// sample finds values in both forms and both column types, and a table
// without a single-column primary key is reported as skipped.
func TestGuardrailOpensASample(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := migrated(t)
	d := testDoc(t)
	setup(t, pool, ring(t, d), 12) // users.email (bytea, binary), docs.body (text, text form)
	// Some text-form envelopes in the bytea column too.
	email := ring(t, d).Field("users", "email")
	for i := 14; i <= 16; i++ {
		ct, err := email.SealText(strconv.Itoa(i), []byte("x"))
		require.NoError(t, err)
		_, err = pool.Exec(ctx, `INSERT INTO users (id, email) VALUES ($1, $2)`, i, []byte(ct))
		require.NoError(t, err)
	}
	emailKey, _ := ring(t, d).Primary("users.email")
	counter := newCounter(t, pool)
	subj := keyring.Column{Table: keyring.SubjectKeyTable, Column: keyring.SubjectKeyColumn, Scope: "subjects"}
	sampler := counter.(keyring.Sampler)
	rows, err := sampler.SampleKeyID(ctx, "users", "email", emailKey, 100)
	require.NoError(t, err)
	require.Len(t, rows, 15, "binary and text forms in a bytea column")
	rows, err = sampler.SampleKeyID(ctx, "docs", "body", emailKey, 100)
	require.NoError(t, err)
	require.Len(t, rows, 12, "text forms in a text column")
	rows, err = sampler.SampleKeyID(ctx, "users", "email", emailKey+100, 100)
	require.NoError(t, err)
	require.Empty(t, rows)
	rows, err = sampler.SampleKeyID(ctx, "users", "email", emailKey, 2)
	require.NoError(t, err)
	require.Len(t, rows, 2)

	rep, err := keyring.Check(ctx, d, keyring.CheckOptions{Counter: counter, Columns: []keyring.Column{subj}})
	require.NoError(t, err)
	require.True(t, rep.OK, "%+v", rep.Findings)
	require.NotEmpty(t, rep.Sampled)
	for _, s := range rep.Sampled {
		require.Zero(t, s.Failed)
		require.Equal(t, keyring.DefaultSample, s.Opened, "%+v", s)
	}

	// The same IDs, other material: every count still matches, no sampled
	// value opens.
	fresh := testDoc(t)
	rep, err = keyring.Check(ctx, fresh, keyring.CheckOptions{Counter: counter, Columns: []keyring.Column{subj}})
	require.NoError(t, err)
	require.False(t, rep.OK)
	var wrong []keyring.Finding
	for _, f := range rep.Findings {
		if f.Kind == keyring.FindingWrongKey {
			wrong = append(wrong, f)
		}
	}
	require.Len(t, wrong, 2, "%+v", rep.Findings) // users.email and docs.body
	require.Equal(t, emailKey, wrong[0].KeyID)
	require.Contains(t, wrong[0].Message, "is not the key that sealed them")

	// One altered value among good ones is another finding.
	_, err = pool.Exec(ctx, `UPDATE users SET email = set_byte(email, 20, get_byte(email, 20) # 1) WHERE id = 1`)
	require.NoError(t, err)
	rep, err = keyring.Check(ctx, d, keyring.CheckOptions{Counter: counter, Sample: 100, Columns: []keyring.Column{subj}})
	require.NoError(t, err)
	require.False(t, rep.OK)
	require.Equal(t, keyring.FindingUndecryptable, rep.Findings[0].Kind, "%+v", rep.Findings)
	rep, err = keyring.Check(ctx, d, keyring.CheckOptions{Counter: counter, Sample: -1, Columns: []keyring.Column{subj}})
	require.NoError(t, err)
	require.True(t, rep.OK, "sampling off")
	require.Empty(t, rep.Sampled)

	// No single-column primary key: skipped, not failed.
	_, err = pool.Exec(ctx, `CREATE TABLE pairs (a int, b int, v bytea, PRIMARY KEY (a, b))`)
	require.NoError(t, err)
	ct, err := email.Seal("1", []byte("x"))
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `INSERT INTO pairs VALUES (1, 1, $1)`, ct)
	require.NoError(t, err)
	_, err = sampler.SampleKeyID(ctx, "pairs", "v", emailKey, 5)
	require.ErrorIs(t, err, keyring.ErrNotSampled)
	_, err = pool.Exec(ctx, `UPDATE users SET email = NULL WHERE id = 1`)
	require.NoError(t, err)
	rep, err = keyring.Check(ctx, d, keyring.CheckOptions{Counter: counter,
		Columns: []keyring.Column{subj, {Table: "pairs", Column: "v", Scope: "users.email"}}})
	require.NoError(t, err)
	require.True(t, rep.OK, "%+v", rep.Findings)
	skipped := 0
	for _, s := range rep.Sampled {
		if s.Skipped != "" {
			skipped++
			require.Equal(t, "pairs", s.Table)
			require.Contains(t, s.Skipped, "no single-column primary key")
		}
	}
	require.Equal(t, 1, skipped)
}
