package main

import (
	"cmp"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rampart-sdk/rampart/authn"
)

// Every list route answers one page at a time: a list that grows with the
// organisation (132k payouts were 28 MB per call) must not cost the server
// memory and time in proportion to its history on every request.
const (
	defaultPageSize = 50
	maxPageSize     = 200
)

// cursor is the position after the last row of a page: lists are ordered by
// (created_at, id), so a cursor stays valid while rows are added.
type cursor struct {
	at time.Time
	id string
}

// page asks a store for up to limit rows after the cursor (the zero cursor
// is the start).
type page struct {
	after cursor
	limit int
}

// before reports whether a row created at `at` with id sorts at or before c,
// i.e. belongs to an earlier page.
func (c cursor) before(at time.Time, id string) bool {
	if c.id == "" && c.at.IsZero() {
		return false
	}
	return cmp.Or(at.Compare(c.at), strings.Compare(id, c.id)) <= 0
}

// pageOf is one page of rows for the memory store: ordered as every list is,
// by (created_at, id), those after p.after, at most p.limit.
func pageOf[T any](rows []T, p page, pos func(T) cursor) []T {
	slices.SortFunc(rows, func(a, b T) int {
		ca, cb := pos(a), pos(b)
		return cmp.Or(ca.at.Compare(cb.at), strings.Compare(ca.id, cb.id))
	})
	out := rows[:0]
	for _, row := range rows {
		if len(out) == p.limit {
			break
		}
		if c := pos(row); !p.after.before(c.at, c.id) {
			out = append(out, row)
		}
	}
	return out
}

// Each row's position in its list.
func userPos(u user) cursor               { return cursor{u.CreatedAt, u.ID} }
func payoutPos(p payout) cursor           { return cursor{p.CreatedAt, p.ID} }
func integrationPos(i integration) cursor { return cursor{i.CreatedAt, i.ID} }
func leadPos(l lead) cursor               { return cursor{l.CreatedAt, l.ID} }

// allPages calls list page by page until the last one, for jobs that need
// every row (the tax export, the MFA enrolment check) without asking the
// store for all of them at once.
func allPages[T any](list func(page) ([]T, error), pos func(T) cursor, each func(T) error) error {
	p := page{limit: maxPageSize}
	for {
		rows, err := list(p)
		if err != nil {
			return err
		}
		for _, row := range rows {
			if err := each(row); err != nil {
				return err
			}
		}
		if len(rows) < p.limit {
			return nil
		}
		p.after = pos(rows[len(rows)-1])
	}
}

var errBadPage = errors.New("saasapp: bad page parameters")

// encode makes the cursor opaque to clients: they pass it back unchanged.
func (c cursor) encode() string {
	return base64.RawURLEncoding.EncodeToString([]byte(c.at.UTC().Format(time.RFC3339Nano) + "|" + c.id))
}

func decodeCursor(s string) (cursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return cursor{}, errBadPage
	}
	ts, id, ok := strings.Cut(string(b), "|")
	at, err := time.Parse(time.RFC3339Nano, ts)
	if !ok || err != nil || id == "" {
		return cursor{}, errBadPage
	}
	return cursor{at: at, id: id}, nil
}

// pageFrom reads ?limit= (default 50, at most 200) and ?cursor= from the
// request.
func pageFrom(r *http.Request) (page, error) {
	q, err := url.ParseQuery(r.URL.RawQuery) // URL.Query would drop a malformed pair silently
	if err != nil {
		return page{}, errBadPage
	}
	p := page{limit: defaultPageSize}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxPageSize {
			return page{}, errBadPage
		}
		p.limit = n
	}
	if s := q.Get("cursor"); s != "" {
		c, err := decodeCursor(s)
		if err != nil {
			return page{}, err
		}
		p.after = c
	}
	return p, nil
}

// badPage answers a request whose page parameters are wrong.
func badPage(w http.ResponseWriter) {
	writeProblem(w, http.StatusBadRequest, "Bad request",
		"limit must be 1 to "+strconv.Itoa(maxPageSize)+", and cursor the next_cursor of an earlier page")
}

// plusOne is p asking for one row more, so that a handler knows whether a
// next page exists without a second query.
func (p page) plusOne() page { return page{after: p.after, limit: p.limit + 1} }

// listed answers one page of a list: at most p.limit of the rows (fetched
// with p.plusOne), a next_cursor when more follow, and the same as an RFC
// 8288 Link header.
func listed[T any](w http.ResponseWriter, r *http.Request, key string, p page, rows []T, pos func(T) cursor, view func(T) any) {
	out := make([]any, 0, min(len(rows), p.limit))
	for i, row := range rows {
		if i == p.limit {
			break
		}
		out = append(out, view(row))
	}
	body := map[string]any{key: out}
	if len(rows) > p.limit {
		next := pos(rows[p.limit-1]).encode()
		body["next_cursor"] = next
		w.Header().Set("Link", nextLink(r, next, p.limit))
	}
	writeJSON(w, http.StatusOK, body)
}

// authnPage reads ?limit= and ?cursor= for a list authn pages itself (API
// keys, sessions): its cursors are authn's, passed through as they are.
func authnPage(w http.ResponseWriter, r *http.Request) (cursor string, limit int, ok bool) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	limit = defaultPageSize
	if s := q.Get("limit"); err == nil && s != "" {
		limit, err = strconv.Atoi(s)
		if err == nil && (limit < 1 || limit > maxPageSize) {
			err = errBadPage
		}
	}
	if err != nil {
		badPage(w)
		return "", 0, false
	}
	return q.Get("cursor"), limit, true
}

// authnListed answers one page of a list authn paged: a malformed cursor is
// the client's error, a store failure goes through fail.
func (a *app) authnListed(w http.ResponseWriter, r *http.Request, key string, items any, next string, limit int, err error) {
	if errors.Is(err, authn.ErrInvalidArgument) {
		badPage(w)
		return
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	body := map[string]any{key: items}
	if next != "" {
		body["next_cursor"] = next
		w.Header().Set("Link", nextLink(r, next, limit))
	}
	writeJSON(w, http.StatusOK, body)
}

// nextLink is the RFC 8288 Link header to the page after this one.
func nextLink(r *http.Request, next string, limit int) string {
	q := r.URL.Query()
	q.Set("cursor", next)
	q.Set("limit", strconv.Itoa(limit))
	return "<" + (&url.URL{Path: r.URL.Path, RawQuery: q.Encode()}).String() + `>; rel="next"`
}
