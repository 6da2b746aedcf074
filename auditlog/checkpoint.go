package auditlog

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Checkpoint is a signed statement "chain had Size entries with tree Root
// at Time". Kept outside the database, checkpoints turn silent truncation
// or a recomputed chain into a detectable mismatch.
type Checkpoint struct {
	Chain string
	Size  uint64
	Root  tlog.Hash
	Time  time.Time
}

const checkpointOrigin = "rampart.auditlog/"

// Text is the signed text of the checkpoint, in the C2SP tlog-checkpoint
// layout: origin line, decimal size, base64 root hash, then a time line.
//
//	rampart.auditlog/<chain>
//	<size>
//	<base64 root>
//	time <UTC, RFC 3339 with microseconds>
func (c Checkpoint) Text() string {
	return fmt.Sprintf("%s%s\n%d\n%s\ntime %s\n", checkpointOrigin, c.Chain, c.Size, c.Root,
		c.Time.UTC().Format(checkpointTime))
}

const checkpointTime = "2006-01-02T15:04:05.000000Z"

// parseCheckpoint parses a checkpoint's text (without signatures): the
// body of OpenCheckpoint, which is the one way a caller reads a checkpoint,
// verified.
func parseCheckpoint(text string) (Checkpoint, error) {
	lines := strings.Split(text, "\n")
	if len(lines) != 5 || lines[4] != "" {
		return Checkpoint{}, fmt.Errorf("%w: want 4 lines", ErrBadCheckpoint)
	}
	chain, ok := strings.CutPrefix(lines[0], checkpointOrigin)
	if !ok || checkName("chain", chain, maxNameLen) != nil {
		return Checkpoint{}, fmt.Errorf("%w: bad origin line", ErrBadCheckpoint)
	}
	size, err := strconv.ParseUint(lines[1], 10, 63)
	if err != nil || strconv.FormatUint(size, 10) != lines[1] {
		return Checkpoint{}, fmt.Errorf("%w: bad size", ErrBadCheckpoint)
	}
	if err := checkTreeSize("tree", size, 0); err != nil {
		return Checkpoint{}, fmt.Errorf("%w: %w", ErrBadCheckpoint, err)
	}
	root, err := tlog.ParseHash(lines[2])
	if err != nil {
		return Checkpoint{}, fmt.Errorf("%w: bad root", ErrBadCheckpoint)
	}
	ts, ok := strings.CutPrefix(lines[3], "time ")
	if !ok {
		return Checkpoint{}, fmt.Errorf("%w: bad time line", ErrBadCheckpoint)
	}
	t, err := time.Parse(checkpointTime, ts)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("%w: bad time", ErrBadCheckpoint)
	}
	return Checkpoint{Chain: chain, Size: size, Root: root, Time: t}, nil
}

// NewSigningKey generates an Ed25519 key pair in golang.org/x/mod/sumdb/note
// format. Keep skey secret and away from the database; publish vkey to
// whoever verifies.
func NewSigningKey(name string) (skey, vkey string, err error) {
	return note.GenerateKey(rand.Reader, name)
}

// signCheckpoint returns c as a signed note.
func signCheckpoint(signer note.Signer, c Checkpoint) ([]byte, error) {
	return note.Sign(&note.Note{Text: c.Text()}, signer)
}

// OpenCheckpoint verifies a signed note against verifiers and parses it.
func OpenCheckpoint(msg []byte, verifiers note.Verifiers) (Checkpoint, error) {
	n, err := note.Open(msg, verifiers)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("%w: %v", ErrBadCheckpoint, err)
	}
	return parseCheckpoint(n.Text)
}

// SplitNotes splits a concatenation of signed notes (the format of a
// checkpoint file) into notes. A note is text lines, a blank line, and
// signature lines starting with "— "; the next non-signature line starts the
// next note.
func SplitNotes(data []byte) [][]byte {
	var (
		notes  [][]byte
		cur    bytes.Buffer
		inSigs bool
	)
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if inSigs {
			if strings.HasPrefix(line, "— ") {
				cur.WriteString(line + "\n")
				continue
			}
			notes = append(notes, bytes.Clone(cur.Bytes()))
			cur.Reset()
			inSigs = false
		}
		if line == "" {
			if cur.Len() > 0 {
				cur.WriteString("\n")
				inSigs = true
			}
			continue
		}
		cur.WriteString(line + "\n")
	}
	if cur.Len() > 0 {
		notes = append(notes, cur.Bytes())
	}
	return notes
}

// ReadCheckpoints verifies every note in data and returns the checkpoints.
// One note that fails is an error: a checkpoint file is trusted evidence.
func ReadCheckpoints(data []byte, verifiers note.Verifiers) ([]Checkpoint, error) {
	var out []Checkpoint
	for i, n := range SplitNotes(data) {
		cp, err := OpenCheckpoint(n, verifiers)
		if err != nil {
			return nil, fmt.Errorf("checkpoint %d: %w", i+1, err)
		}
		out = append(out, cp)
	}
	return out, nil
}

// CheckpointSink stores signed checkpoints outside the database: a file on
// another system, an HTTP endpoint, object storage with retention lock.
type CheckpointSink interface {
	SaveCheckpoint(ctx context.Context, chain string, signedNote []byte) error
}

// writerSink writes each note to w (stdout, a pipe, a log shipper).
type writerSink struct {
	mu sync.Mutex
	w  io.Writer
}

// NewWriterSink returns a sink writing each note to w (stdout, a pipe, a
// log shipper), one write at a time.
func NewWriterSink(w io.Writer) CheckpointSink { return &writerSink{w: w} }

// SaveCheckpoint implements CheckpointSink.
func (s *writerSink) SaveCheckpoint(_ context.Context, _ string, msg []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, err := s.w.Write(msg)
	return err
}

// fileSink appends notes to a file and syncs it, so that a checkpoint
// reported saved survives a crash.
type fileSink struct {
	mu   sync.Mutex
	path string
}

// NewFileSink returns a sink appending each note to path (created with
// mode 0600) and syncing the file, so that a checkpoint reported saved
// survives a crash.
func NewFileSink(path string) CheckpointSink { return &fileSink{path: path} }

// SaveCheckpoint implements CheckpointSink.
func (s *fileSink) SaveCheckpoint(_ context.Context, _ string, msg []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, err := os.OpenFile(s.path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(msg); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// httpSink POSTs each note (text/plain) to a URL; any non-2xx answer is an
// error.
type httpSink struct {
	url    string
	client *http.Client
}

// NewHTTPSink returns a sink that POSTs each note (text/plain, with the
// chain in the Rampart-Audit-Chain header) to url with client (nil means a
// client with a 10s timeout); any non-2xx answer is an error.
func NewHTTPSink(url string, client *http.Client) CheckpointSink {
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	return &httpSink{url: url, client: client}
}

// SaveCheckpoint implements CheckpointSink.
func (s *httpSink) SaveCheckpoint(ctx context.Context, chain string, msg []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(msg))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	req.Header.Set("Rampart-Audit-Chain", chain)
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("auditlog: checkpoint endpoint answered %s", resp.Status)
	}
	return nil
}
