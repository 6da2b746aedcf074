package keyring

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// A Source supplies the registry document at boot. The package never reads
// keys by itself (nothing happens at package init): the host picks a Source
// and calls Load. Implement it to fetch the document from Vault or a secret
// manager; wrap it in an EnvelopeSource when its keys are wrapped by a KMS.
type Source interface {
	Document(ctx context.Context) (*Document, error)
}

// SourceFunc adapts a function to Source.
type SourceFunc func(ctx context.Context) (*Document, error)

// Document calls f.
func (f SourceFunc) Document(ctx context.Context) (*Document, error) { return f(ctx) }

// DocumentSource serves a document already in memory (tests, quickstart).
func DocumentSource(d *Document) Source {
	return SourceFunc(func(context.Context) (*Document, error) { return d, nil })
}

// EnvSource reads the document from the environment variable name, through
// getenv (os.Getenv in production; a map in tests). The variable holds the
// JSON document itself.
func EnvSource(getenv func(string) string, name string) Source {
	return SourceFunc(func(context.Context) (*Document, error) {
		v := getenv(name)
		if v == "" {
			return nil, fmt.Errorf("%w: environment variable %s is empty", ErrInvalidDocument, name)
		}
		return ParseDocument([]byte(v))
	})
}

// FileSource reads the document from a file, refusing one that group or
// others may read (or write): a key file must be mode 0600 or 0400.
func FileSource(path string) Source {
	return SourceFunc(func(context.Context) (*Document, error) { return ReadFile(path) })
}

// ReadFile reads a registry document file, refusing a file readable by group
// or others (ErrInsecureFile).
func ReadFile(path string) (*Document, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("keyring: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("keyring: %w", err)
	}
	if !fi.Mode().IsRegular() {
		// A FIFO or device would block or feed endless input.
		return nil, fmt.Errorf("%w: %s is not a regular file", ErrInvalidDocument, path)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s has mode %v, want 0600", ErrInsecureFile, path, fi.Mode().Perm())
	}
	b, err := io.ReadAll(io.LimitReader(f, maxDocument+1))
	if err != nil {
		return nil, fmt.Errorf("keyring: %w", err)
	}
	return ParseDocument(b)
}

// WriteFile replaces path with d, atomically and with mode 0600. The
// document is written to a new file in the same directory, created 0600 so
// that no other user can open it at any moment, synced, then renamed over
// path: a crash leaves the old registry or the new one, never half a file
// (which would lose every key), and a symlink at path is replaced rather
// than followed.
func WriteFile(path string, d *Document) error {
	b, err := d.Encode()
	if err != nil {
		return err
	}
	defer clear(b)
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("keyring: %w", err)
	}
	tmp := f.Name()
	defer func() {
		if tmp != "" {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := f.Chmod(0o600); err != nil {
		return fmt.Errorf("keyring: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		return fmt.Errorf("keyring: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("keyring: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("keyring: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("keyring: %w", err)
	}
	tmp = ""
	// Make the rename itself durable; not every platform can sync a
	// directory, and the file is already complete either way.
	if df, err := os.Open(dir); err == nil {
		_ = df.Sync()
		df.Close()
	}
	return nil
}

// An Unwrapper decrypts a key wrapped by a key-encryption key (KEK). The
// host's KMS client implements it (one call to the KMS's Decrypt), so the
// KEK never leaves the KMS.
type Unwrapper interface {
	Unwrap(ctx context.Context, wrapped []byte) ([]byte, error)
}

// EnvelopeSource loads a document from inner whose keys are stored wrapped
// (the Wrapped field, as WrapDocument writes it) and unwraps each through
// kek. Each unwrapped payload must name its own entry's scope and key ID, so
// wrapped keys shuffled between entries are refused. The result holds plain
// keys in memory only; the stored document never does.
func EnvelopeSource(inner Source, kek Unwrapper) Source {
	return SourceFunc(func(ctx context.Context) (*Document, error) {
		d, err := inner.Document(ctx)
		if err != nil {
			return nil, err
		}
		out := &Document{Version: d.Version, Columns: d.Columns}
		for _, k := range d.Keys {
			if k.Key.Len() == 0 && len(k.Wrapped) > 0 {
				b, err := kek.Unwrap(ctx, k.Wrapped)
				if err != nil {
					return nil, &ScopeError{Scope: k.Scope, KeyID: k.ID, Err: fmt.Errorf("keyring: unwrap: %w", err)}
				}
				key, ok := unbindKey(b, k.Scope, k.ID)
				clear(b)
				if !ok {
					return nil, &ScopeError{Scope: k.Scope, KeyID: k.ID, Err: fmt.Errorf("%w: wrapped key belongs to another entry", ErrInvalidDocument)}
				}
				k.Key = secretOf(key) // takes key: its only copy, nothing to clear
			}
			k.Wrapped = nil
			out.Keys = append(out.Keys, k)
		}
		return out, nil
	})
}

// LocalKEK is a key-encryption key held in process: AES-256-GCM wrapping for
// tests and small deployments that keep the KEK apart from the document (an
// environment variable versus a file, say). Production hosts should prefer a
// KMS that implements Unwrapper.
type LocalKEK struct{ aead cipher.AEAD }

var kekAD = []byte("rampart/keyring/kek/v1")

// NewLocalKEK returns a KEK for a 32-byte key.
func NewLocalKEK(key Secret) (*LocalKEK, error) {
	if key.Len() != KeySize {
		return nil, fmt.Errorf("%w: KEK is %d bytes, want %d", ErrInvalidDocument, key.Len(), KeySize)
	}
	a, err := newAEAD(key.bytes())
	if err != nil {
		return nil, err
	}
	return &LocalKEK{aead: a}, nil
}

// Wrap encrypts a key: 12-byte nonce, then ciphertext and tag.
func (k *LocalKEK) Wrap(_ context.Context, key []byte) ([]byte, error) {
	out := make([]byte, nonceSize, nonceSize+len(key)+tagSize)
	_, _ = rand.Read(out)
	return k.aead.Seal(out, out[:nonceSize], key, kekAD), nil
}

// Unwrap implements Unwrapper.
func (k *LocalKEK) Unwrap(_ context.Context, wrapped []byte) ([]byte, error) {
	if len(wrapped) < nonceSize+tagSize {
		return nil, ErrMalformed
	}
	pt, err := k.aead.Open(nil, wrapped[:nonceSize], wrapped[nonceSize:], kekAD)
	if err != nil {
		return nil, ErrDecrypt
	}
	return pt, nil
}

// String describes the KEK without its key.
func (k *LocalKEK) String() string { return "keyring.LocalKEK{" + redacted + "}" }

// Format makes every fmt verb print String, %#v included.
func (k *LocalKEK) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(k.String())) }

// MarshalJSON writes "[redacted]".
func (k *LocalKEK) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// WrapDocument returns a copy of d whose keys are wrapped by wrap (for
// example LocalKEK.Wrap or a KMS Encrypt call) and whose plain keys are
// dropped: the form to store next to an EnvelopeSource.
func WrapDocument(ctx context.Context, d *Document, wrap func(ctx context.Context, key []byte) ([]byte, error)) (*Document, error) {
	out := &Document{Version: d.Version, Columns: d.Columns}
	for _, k := range d.Keys {
		if k.Key.Len() > 0 {
			payload := bindKey(k.Key.bytes(), k.Scope, k.ID)
			w, err := wrap(ctx, payload)
			clear(payload)
			if err != nil {
				return nil, &ScopeError{Scope: k.Scope, KeyID: k.ID, Err: fmt.Errorf("keyring: wrap: %w", err)}
			}
			k.Wrapped = w
			k.KCV = KeyCheckValue(k.Key) // so the unwrapped key is checked at load
			k.Key = Secret{}
		}
		out.Keys = append(out.Keys, k)
	}
	return out, nil
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("keyring: %w", err)
	}
	return cipher.NewGCM(b)
}

// wrappedKeyLabel starts every wrapped payload. The payload binds the key to
// its entry (label, scope, key ID, then the 32 key bytes, lengths
// 4-byte big-endian), so a wrapped key copied onto another entry of the
// document fails to load instead of silently serving another scope.
const wrappedKeyLabel = "rampart/keyring/wrapped-key/v1"

func bindKey(key []byte, scope string, id uint32) []byte {
	b := appendLP(nil, wrappedKeyLabel)
	b = appendLP(b, scope)
	b = binary.BigEndian.AppendUint32(b, id)
	return append(b, key...)
}

func unbindKey(payload []byte, scope string, id uint32) ([]byte, bool) {
	prefix := bindKey(nil, scope, id)
	if len(payload) != len(prefix)+KeySize || !bytes.Equal(payload[:len(prefix)], prefix) {
		return nil, false
	}
	return bytes.Clone(payload[len(prefix):]), true
}
