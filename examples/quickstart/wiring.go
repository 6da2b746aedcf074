package main

import (
	"context"

	"golang.org/x/mod/sumdb/note"

	"github.com/rampart-sdk/rampart/auditlog"
	"github.com/rampart-sdk/rampart/compliance"
	"github.com/rampart-sdk/rampart/mfa"
	"github.com/rampart-sdk/rampart/privacy"
	"github.com/rampart-sdk/rampart/rbac"
)

// openAuditLog creates the story's audit log and registers every action the
// packages emit, as a host does at startup: each package exports the names
// it records (AuditActions), and an unregistered one is refused at append.
// The log signs a checkpoint every two entries of a chain; the story keeps
// them, as a host keeps them outside its database.
func (s *story) openAuditLog() error {
	skey, vkey, err := auditlog.NewSigningKey("quickstart-audit")
	if err != nil {
		return err
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		return err
	}
	verifier, err := note.NewVerifier(vkey)
	if err != nil {
		return err
	}
	sink := checkpointFunc(func(msg []byte) error {
		cp, err := auditlog.OpenCheckpoint(msg, note.VerifierList(verifier))
		s.checkpoints = append(s.checkpoints, cp)
		return err
	})
	s.auditStore = auditlog.NewMemoryStore()
	s.audit, err = auditlog.New(s.auditStore, auditlog.WithClock(s.clock), auditlog.WithCheckpoints(signer, sink, 2, 0))
	if err != nil {
		return err
	}

	var types []auditlog.ActionType
	for _, group := range []struct {
		pkg      string
		names    []string
		category auditlog.Category
	}{
		{"rbac", rbac.AuditActions(), auditlog.CategorySecurity},
		{"mfa", mfa.AuditActions(), auditlog.CategorySecurity},
		{"privacy", privacy.AuditActions(), auditlog.CategoryData},
		{"compliance", compliance.AuditActions(), auditlog.CategorySystem},
	} {
		for _, name := range group.names {
			types = append(types, auditlog.ActionType{Name: name, Category: group.category,
				Description: "recorded by rampart's " + group.pkg + " package", SchemaVersion: 1})
		}
	}
	types = append(types,
		auditlog.ActionType{Name: "invoice.paid", Category: auditlog.CategoryAdmin, Description: "an invoice was marked paid", SchemaVersion: 1},
		auditlog.ActionType{Name: "user.role.changed", Category: auditlog.CategoryAdmin, Description: "a member's role changed", SchemaVersion: 1},
	)
	return s.audit.Register(types...)
}

// checkpointFunc adapts a function to auditlog.CheckpointSink.
type checkpointFunc func(msg []byte) error

func (f checkpointFunc) SaveCheckpoint(_ context.Context, _ string, msg []byte) error { return f(msg) }
