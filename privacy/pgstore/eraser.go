package pgstore

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rampart-sdk/rampart/privacy"
)

// Table describes the common erasure case: the subject's rows of one host
// table, found by a subject column (and an organisation column, for
// multi-tenant tables), with a strategy per column.
type Table struct {
	// Name is the table, optionally schema-qualified ("billing.invoices").
	Name string
	// OrgColumn, if set, restricts erasure to the request's organisation.
	OrgColumn string
	// SubjectColumn holds the subject ID (text or uuid).
	SubjectColumn string
	// Erase is applied when the subject is erased. Empty, or any
	// privacy.Delete in it, deletes the rows; otherwise each listed column is
	// set by its strategy and the others are kept.
	Erase privacy.Plan
	// Minimise is applied instead when a retention class keeps the rows:
	// list every column that is not legally required. Empty deletes the
	// rows, which a retention domain would not want: NewTableEraser refuses
	// a Delete in Minimise.
	Minimise privacy.Plan
}

// tableEraser is the eraser of NewTableEraser.
type tableEraser struct {
	db    *pgxpool.Pool
	t     Table
	ident string
}

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func quoteName(name string) (string, error) {
	parts := strings.Split(name, ".")
	if len(parts) > 2 {
		return "", fmt.Errorf("%w: table name %q", privacy.ErrInvalid, name)
	}
	for _, p := range parts {
		if !identRE.MatchString(p) {
			return "", fmt.Errorf("%w: identifier %q", privacy.ErrInvalid, p)
		}
	}
	return pgx.Identifier(parts).Sanitize(), nil
}

// NewTableEraser checks t (identifiers, strategies) and returns its eraser,
// which erases a subject from the table in one statement (and many subjects
// in one statement, EraseBatch, when the plan does not depend on the
// subject) and is idempotent. Identifiers must be plain SQL names; they are
// quoted, never interpolated raw.
func NewTableEraser(pool *pgxpool.Pool, t Table) (privacy.BatchEraser, error) {
	ident, err := quoteName(t.Name)
	if err != nil {
		return nil, err
	}
	if t.SubjectColumn == "" {
		return nil, fmt.Errorf("%w: table %q needs a subject column", privacy.ErrInvalid, t.Name)
	}
	cols := []string{t.SubjectColumn}
	if t.OrgColumn != "" {
		cols = append(cols, t.OrgColumn)
	}
	for c, s := range t.Erase {
		if err := s.Validate(); err != nil {
			return nil, err
		}
		cols = append(cols, c)
	}
	for c, s := range t.Minimise {
		if err := s.Validate(); err != nil {
			return nil, err
		}
		if s.Kind() == privacy.KindDelete {
			return nil, fmt.Errorf("%w: table %q: minimise cannot delete rows", privacy.ErrInvalid, t.Name)
		}
		cols = append(cols, c)
	}
	for _, c := range cols {
		if !identRE.MatchString(c) {
			return nil, fmt.Errorf("%w: column %q", privacy.ErrInvalid, c)
		}
	}
	return &tableEraser{db: pool, t: t, ident: ident}, nil
}

func (e *tableEraser) plan(minimise bool) (p privacy.Plan, del bool) {
	p = e.t.Erase
	if minimise {
		p = e.t.Minimise
	}
	if len(p) == 0 {
		return nil, true
	}
	for _, s := range p {
		if s.Kind() == privacy.KindDelete {
			return nil, true
		}
	}
	return p, false
}

// perSubject reports whether the plan's values depend on the subject.
func perSubject(p privacy.Plan) bool {
	for _, s := range p {
		if k := s.Kind(); k == privacy.KindPseudonym || k == privacy.KindCryptoShred {
			return true
		}
	}
	return false
}

// where returns the WHERE clause for one org and a subject parameter that is
// either a value ($n) or an array (ANY($n)).
func (e *tableEraser) where(first int, many bool) string {
	subj := pgx.Identifier{e.t.SubjectColumn}.Sanitize()
	var w string
	if many {
		w = fmt.Sprintf("%s = ANY($%d)", subj, first)
	} else {
		w = fmt.Sprintf("%s = $%d", subj, first)
	}
	if e.t.OrgColumn != "" {
		w += fmt.Sprintf(" AND %s = $%d", pgx.Identifier{e.t.OrgColumn}.Sanitize(), first+1)
	}
	return w
}

// statement builds the erase statement for subjectID (values computed for
// that subject; crypto-shred destroys the key here).
func (e *tableEraser) statement(ctx context.Context, subjectID string, minimise, many bool) (string, []any, error) {
	p, del := e.plan(minimise)
	if del {
		return "DELETE FROM " + e.ident + " WHERE " + e.where(1, many), nil, nil
	}
	cols := make([]string, 0, len(p))
	for c := range p {
		cols = append(cols, c)
	}
	sort.Strings(cols)
	var sets []string
	var args []any
	for _, c := range cols {
		v, keep, err := p[c].Value(ctx, subjectID)
		if err != nil {
			return "", nil, err
		}
		if keep {
			continue
		}
		args = append(args, v)
		sets = append(sets, fmt.Sprintf("%s = $%d", pgx.Identifier{c}.Sanitize(), len(args)))
	}
	if len(sets) == 0 {
		return "", nil, nil // crypto-shred only: the key is gone, the rows stay
	}
	return "UPDATE " + e.ident + " SET " + strings.Join(sets, ", ") + " WHERE " + e.where(len(args)+1, many), args, nil
}

func (e *tableEraser) Erase(ctx context.Context, req privacy.EraseRequest) (privacy.Result, error) {
	sql, args, err := e.statement(ctx, req.SubjectID, req.Minimise, false)
	if err != nil || sql == "" {
		return privacy.Result{}, err
	}
	args = append(args, req.SubjectID)
	if e.t.OrgColumn != "" {
		args = append(args, req.Org)
	}
	tag, err := e.db.Exec(ctx, sql, args...)
	if err != nil {
		return privacy.Result{}, fmt.Errorf("privacy/pgstore: erase %s: %w", e.t.Name, err)
	}
	return privacy.Result{Records: tag.RowsAffected()}, nil
}

// EraseBatch erases reqs in one statement per organisation and phase when
// the plan does not depend on the subject.
func (e *tableEraser) EraseBatch(ctx context.Context, reqs []privacy.EraseRequest) (privacy.Result, error) {
	type key struct {
		org      string
		minimise bool
	}
	groups := map[key][]string{}
	var order []key
	var res privacy.Result
	for _, r := range reqs {
		p, del := e.plan(r.Minimise)
		if !del && perSubject(p) {
			one, err := e.Erase(ctx, r)
			if err != nil {
				return res, err
			}
			res.Records += one.Records
			continue
		}
		k := key{r.Org, r.Minimise}
		if e.t.OrgColumn == "" {
			k.org = ""
		}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], r.SubjectID)
	}
	for _, k := range order {
		sql, args, err := e.statement(ctx, "", k.minimise, true)
		if err != nil {
			return res, err
		}
		args = append(args, groups[k])
		if e.t.OrgColumn != "" {
			args = append(args, k.org)
		}
		tag, err := e.db.Exec(ctx, sql, args...)
		if err != nil {
			return res, fmt.Errorf("privacy/pgstore: erase %s: %w", e.t.Name, err)
		}
		res.Records += tag.RowsAffected()
	}
	return res, nil
}
