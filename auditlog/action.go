package auditlog

import (
	"fmt"
	"math"
	"strings"
	"sync"
	"unicode/utf8"
)

// Category groups action types so that a reviewer can ask "what did the
// system do on its own" or "what did administrators change" without knowing
// every action name.
type Category string

// The categories rampart knows. A host may use its own: the category is
// metadata of the registration, never part of the hashed entry.
const (
	CategoryAdmin    Category = "admin"
	CategoryUser     Category = "user"
	CategorySecurity Category = "security"
	CategorySystem   Category = "system"
	CategoryWebhook  Category = "webhook"
	CategoryCron     Category = "cron"
	CategoryData     Category = "data"
)

// ActionType is a registered kind of audit entry. Registering actions up
// front turns a typo in an action name into an error at the first append
// instead of an entry nobody will ever search for.
type ActionType struct {
	// Name is what entries carry, e.g. "user.role.changed".
	Name string
	// Category groups the action (admin, system, webhook, cron, ...).
	Category Category
	// Description says, for a reviewer, what the entry means.
	Description string
	// SchemaVersion is the version of the payload's shape; it is hashed
	// into every entry so that a reader knows how to interpret the payload.
	// It is at most MaxSchemaVersion.
	SchemaVersion uint32
}

// MaxSchemaVersion bounds ActionType.SchemaVersion. The hash encodes it as
// an unsigned 32-bit integer, but PostgreSQL has no unsigned type and
// auditlog/pgstore stores it as integer (int4): Register refuses a larger
// version, which every append of the action would otherwise fail to store.
const MaxSchemaVersion = math.MaxInt32

// Actions of the audit log itself, registered by every Log.
const (
	ActionHoldPlaced = "auditlog.hold.placed"
	ActionHoldLifted = "auditlog.hold.lifted"
	ActionPruned     = "auditlog.retention.pruned"
)

func builtinActions() []ActionType {
	return []ActionType{
		{Name: ActionHoldPlaced, Category: CategoryAdmin, Description: "a compliance hold was placed: matching payloads are never pruned", SchemaVersion: 1},
		{Name: ActionHoldLifted, Category: CategoryAdmin, Description: "a compliance hold was lifted", SchemaVersion: 1},
		{Name: ActionPruned, Category: CategorySystem, Description: "payloads older than the retention window were pruned; headers and hashes remain", SchemaVersion: 1},
		{Name: ActionOutboxRejected, Category: CategorySystem, Description: "an outbox row that was not a valid entry was sealed as this entry, which says why", SchemaVersion: 1},
	}
}

// registry maps action names to their types. Appends only read it.
type registry struct {
	mu sync.RWMutex
	m  map[string]ActionType
}

func (r *registry) register(types ...ActionType) error {
	for _, at := range types {
		if err := checkName("action", at.Name, maxNameLen); err != nil {
			return fmt.Errorf("%w: %w", ErrBadActionType, err)
		}
		if at.Category == "" {
			return fmt.Errorf("%w: action %q: category is empty", ErrBadActionType, at.Name)
		}
		if at.SchemaVersion > MaxSchemaVersion {
			return fmt.Errorf("%w: action %q: schema version %d is above %d", ErrBadActionType, at.Name, at.SchemaVersion, MaxSchemaVersion)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m = make(map[string]ActionType, len(types))
	}
	for _, at := range types {
		if old, ok := r.m[at.Name]; ok && old != at {
			return fmt.Errorf("%w: %q is registered with a different definition", ErrDuplicateAction, at.Name)
		}
		r.m[at.Name] = at
	}
	return nil
}

func (r *registry) lookup(name string) (ActionType, bool) {
	r.mu.RLock()
	at, ok := r.m[name]
	r.mu.RUnlock()
	return at, ok
}

// checkActor accepts "user:<id>", "apikey:<id>" or "system:<source>": a
// person, an API key (its ID, never the secret), or the system itself with
// a named source ("system:cron/privacy-sweeper") so that jobs, webhooks and
// schedulers are distinguishable from each other and from people.
func checkActor(s string) error {
	kind, id, ok := strings.Cut(s, ":")
	if !ok || id == "" {
		return fmt.Errorf("%w: %q is not <kind>:<id>", ErrBadActor, s)
	}
	switch kind {
	case "user", "apikey", "system":
	default:
		return fmt.Errorf("%w: %q: kind must be user, apikey or system", ErrBadActor, s)
	}
	if err := checkField("actor", s, maxFieldLen); err != nil {
		return fmt.Errorf("%w: %v", ErrBadActor, err)
	}
	return nil
}

// checkTarget accepts "" or "<type>:<id>".
func checkTarget(s string) error {
	if s == "" {
		return nil
	}
	typ, id, ok := strings.Cut(s, ":")
	if !ok || typ == "" || id == "" {
		return fmt.Errorf("%w: %q is not <type>:<id>", ErrBadTarget, s)
	}
	return checkField("target", s, maxFieldLen)
}

const (
	maxNameLen = 200
	// maxOrgLen keeps an organisation's chain, "org:" + org, a valid name.
	maxOrgLen   = maxNameLen - len("org:")
	maxFieldLen = 4096
)

// nameChars are the characters of chain, organisation and action names:
// ASCII letters and digits and these six. Names appear in checkpoints and
// file names, so they stay simple; an organisation called "zürich" needs an
// ASCII ID (its display name belongs in the payload).
const nameChars = "A-Z a-z 0-9 . _ : / @ -"

// checkName accepts names of 1 to max bytes made of nameChars.
func checkName(what, s string, max int) error {
	if s == "" || len(s) > max {
		return fmt.Errorf("auditlog: %s name %q must have 1 to %d bytes", what, s, max)
	}
	for i, r := range s {
		if r < utf8.RuneSelf && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._:/@-", r)) {
			continue
		}
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(s[i:]); size == 1 {
				return fmt.Errorf("auditlog: %s name %q: byte 0x%02x at offset %d is not valid UTF-8; names use only %s", what, s, s[i], i, nameChars)
			}
		}
		return fmt.Errorf("auditlog: %s name %q: character %q (%U) is not allowed; names use only %s", what, s, r, r, nameChars)
	}
	return nil
}

// checkField accepts valid UTF-8 without control characters, up to max bytes.
func checkField(what, s string, max int) error {
	if len(s) > max {
		return fmt.Errorf("auditlog: %s is longer than %d bytes", what, max)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("auditlog: %s is not valid UTF-8", what)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("auditlog: %s contains a control character", what)
		}
	}
	return nil
}
