package main

import (
	"errors"
	"net/http"

	"github.com/rampart-sdk/rampart/authn"
)

// sessionView is a session as its user sees it in "where you're logged in".
type sessionView struct {
	authn.Session
	Current bool `json:"current"`
}

// GET /orgs/{org}/me/sessions lists the caller's live sessions in this
// organisation, marking the one making the request.
func (a *app) handleMySessions(w http.ResponseWriter, r *http.Request) {
	_, id, ok := a.sessionUser(w, r)
	if !ok {
		return
	}
	cursor, limit, ok := authnPage(w, r)
	if !ok {
		return
	}
	ss, next, err := a.sessions.List(r.Context(), id.Org, id.UserID, cursor, limit)
	out := make([]sessionView, 0, len(ss))
	for _, s := range ss {
		out = append(out, sessionView{Session: s, Current: s.ID == id.SessionID})
	}
	a.authnListed(w, r, "sessions", out, next, limit, err)
}

// DELETE /orgs/{org}/me/sessions/{id} ends one of the caller's sessions (a
// lost laptop). authn looks the session up by organisation AND user, so
// another user's session ID answers 404, never revokes it.
func (a *app) handleRevokeMySession(w http.ResponseWriter, r *http.Request) {
	_, id, ok := a.sessionUser(w, r)
	if !ok {
		return
	}
	target := r.PathValue("id")
	err := a.sessions.Revoke(r.Context(), id.Org, id.UserID, target)
	if errors.Is(err, authn.ErrNotFound) {
		err = errNotFound
	}
	if err == nil {
		err = a.record(r, actSessionRevoked, "session:"+target, map[string]any{"user": id.UserID, "by": "self"})
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// POST /orgs/{org}/me/sessions/revoke-others ends every session of the caller
// in this organisation except the one making the request ("log out
// everywhere else").
func (a *app) handleRevokeMyOtherSessions(w http.ResponseWriter, r *http.Request) {
	_, id, ok := a.sessionUser(w, r)
	if !ok {
		return
	}
	n, err := a.sessions.RevokeOthers(r.Context(), id.Org, id.UserID, id.SessionID)
	if err == nil {
		err = a.record(r, actSessionRevoked, "user:"+id.UserID, map[string]any{"sessions": n, "by": "self", "kept": id.SessionID})
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"revoked": n})
}

// GET /orgs/{org}/members/{user}/sessions shows an administrator where a
// member is logged in (members.view).
func (a *app) handleMemberSessions(w http.ResponseWriter, r *http.Request) {
	org, target := r.PathValue("org"), r.PathValue("user")
	if _, err := a.store.User(r.Context(), org, target); err != nil {
		a.fail(w, r, err)
		return
	}
	cursor, limit, ok := authnPage(w, r)
	if !ok {
		return
	}
	ss, next, err := a.sessions.List(r.Context(), org, target, cursor, limit)
	a.authnListed(w, r, "sessions", ss, next, limit, err)
}

// DELETE /orgs/{org}/members/{user}/sessions ends every session of a member
// in this organisation (suspected compromise, offboarding). It needs
// members.remove, and, for an admin, owner or engineer, admins.manage too:
// an administrator cannot log out someone they could not appoint.
func (a *app) handleRevokeMemberSessions(w http.ResponseWriter, r *http.Request) {
	org, target := r.PathValue("org"), r.PathValue("user")
	u, err := a.store.User(r.Context(), org, target)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if !a.canGrant(r, u.Role) {
		writeProblem(w, http.StatusForbidden, "Forbidden", "ending the sessions of an administrator needs admins.manage")
		return
	}
	n, err := a.sessions.RevokeAll(r.Context(), org, target)
	if err == nil {
		err = a.record(r, actSessionRevoked, "user:"+target, map[string]any{"sessions": n, "by": "administrator"})
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"revoked": n})
}
