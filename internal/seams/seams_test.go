// Package seams_test checks, in one place, every seam where one rampart
// package consumes another's service through a small interface it declares
// itself (core packages never import a sibling).
// Each package's doc says "*X satisfies it"; these assertions make that a
// compile error instead of a stale comment, and the audit recorder test
// keeps the six declarations of Recorder one shape, so one *auditlog.Log
// (or a host's own trail) serves every package.
package seams_test

import (
	"reflect"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rampart-sdk/rampart/auditlog"
	auditpg "github.com/rampart-sdk/rampart/auditlog/pgstore"
	"github.com/rampart-sdk/rampart/authn"
	"github.com/rampart-sdk/rampart/compliance"
	"github.com/rampart-sdk/rampart/compliance/monitor"
	"github.com/rampart-sdk/rampart/compliance/nec1099"
	"github.com/rampart-sdk/rampart/keyring"
	"github.com/rampart-sdk/rampart/mfa"
	"github.com/rampart-sdk/rampart/privacy"
	privacypg "github.com/rampart-sdk/rampart/privacy/pgstore"
	"github.com/rampart-sdk/rampart/rbac"
	"github.com/rampart-sdk/rampart/tenant"
)

// The audit log records for every package.
var (
	_ authn.Recorder      = (*auditlog.Log)(nil)
	_ mfa.Recorder        = (*auditlog.Log)(nil)
	_ rbac.Recorder       = (*auditlog.Log)(nil)
	_ privacy.Recorder    = (*auditlog.Log)(nil)
	_ compliance.Recorder = (*auditlog.Log)(nil)
	_ nec1099.Recorder    = (*auditlog.Log)(nil)

	// Inside a host transaction: privacy's entries go through the outbox.
	_ privacypg.TxRecorder = (*auditpg.TxRecorder)(nil)
	// The compliance report reads the outbox's depth and age.
	_ compliance.Outbox = auditpg.Store(nil)
)

// keyring seals, opens, shreds and indexes for the others.
var (
	_ mfa.Sealer          = (*keyring.Field)(nil)
	_ privacy.Opener      = (*keyring.Field)(nil)
	_ nec1099.FieldOpener = (*keyring.Field)(nil)
	_ privacy.Shredder    = (*keyring.SubjectKeys)(nil)
	_ privacy.Hasher      = (*keyring.BlindIndex)(nil)
	// API keys are looked up by a keyed hash of their secret.
	_ authn.Pepper = (*keyring.BlindIndex)(nil)
)

// rbac hands the organisation it authorised to tenant's context.
var _ = rbac.WithAuthorizedOrg(tenant.With)

// Sessions learn of a passed MFA challenge; the sweep reports heartbeats.
var (
	_ mfa.SessionMarker = (*authn.Sessions)(nil)
	_ privacy.Heartbeat = (*monitor.Monitor)(nil)
)

// TestRecordersHaveOneShape: each package declares its own Recorder (it may
// not import auditlog), but all six are the same method, so a value that
// records for one records for all, and a host adapting its own trail writes
// one adapter.
func TestRecordersHaveOneShape(t *testing.T) {
	recorders := map[string]reflect.Type{
		"authn":              reflect.TypeFor[authn.Recorder](),
		"mfa":                reflect.TypeFor[mfa.Recorder](),
		"rbac":               reflect.TypeFor[rbac.Recorder](),
		"privacy":            reflect.TypeFor[privacy.Recorder](),
		"compliance":         reflect.TypeFor[compliance.Recorder](),
		"compliance/nec1099": reflect.TypeFor[nec1099.Recorder](),
	}
	want := reflect.TypeFor[authn.Recorder]()
	for name, typ := range recorders {
		require.Equal(t, 1, typ.NumMethod(), "%s.Recorder has one method", name)
		require.Equal(t, want.Method(0).Name, typ.Method(0).Name, "%s.Recorder", name)
		require.Equal(t, want.Method(0).Type, typ.Method(0).Type, "%s.Recorder's method has the same signature", name)
	}
}
