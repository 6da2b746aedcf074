package auditlog

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"iter"
	"time"
)

// Query selects entries of one chain for ReadPage and Entries. The zero
// Query selects the whole chain. Filters combine with AND.
type Query struct {
	// From is the first sequence number that may be returned; a page's
	// Next is the From of the page after it.
	From uint64
	// To, if not zero, is the first sequence number that is not returned.
	To uint64
	// Action, Actor and Target, if not "", must equal the entry's field.
	Action string
	Actor  string
	Target string
	// Since and Until, if not zero, keep entries with Since <= Time < Until.
	Since time.Time
	Until time.Time
	// ScanLimit bounds how many entries, matching or not, one filtered
	// ReadPage examines (0 means MaxPageScan, the most allowed), so that a
	// page of a rare action costs the same as any other: a page may come
	// back short, even empty, with More set; follow Next. Entries ignores
	// it: a stream reads its whole selection.
	ScanLimit int
}

// Page sizes of ReadPage. A larger page is refused, never clamped, so that a
// caller who asked for more learns it did not get it.
const (
	DefaultPageSize = 100
	MaxPageSize     = 1000
)

// MaxPageScan is the most entries one filtered ReadPage examines.
const MaxPageScan = 1 << 16

// streamPage is how many entries Entries holds at a time.
const streamPage = MaxPageSize

// Match reports whether e is selected by q.
func (q Query) Match(e *Entry) bool {
	return e.Seq >= q.From && (q.To == 0 || e.Seq < q.To) &&
		(q.Action == "" || e.Action == q.Action) &&
		(q.Actor == "" || e.Actor == q.Actor) &&
		(q.Target == "" || e.Target == q.Target) &&
		(q.Since.IsZero() || !e.Time.Before(q.Since)) &&
		(q.Until.IsZero() || e.Time.Before(q.Until))
}

// Check reports a query that can match nothing because it contradicts
// itself (To before From, Until before Since) as ErrBadQuery.
func (q Query) Check() error {
	if q.To != 0 && q.To < q.From {
		return fmt.Errorf("%w: to %d is before from %d", ErrBadQuery, q.To, q.From)
	}
	if !q.Since.IsZero() && !q.Until.IsZero() && q.Until.Before(q.Since) {
		return fmt.Errorf("%w: until is before since", ErrBadQuery)
	}
	if q.ScanLimit < 0 || q.ScanLimit > MaxPageScan {
		return fmt.Errorf("%w: scan limit %d is not between 1 and %d", ErrBadQuery, q.ScanLimit, MaxPageScan)
	}
	return nil
}

// filtered reports whether q may skip entries of its range.
func (q Query) filtered() bool {
	return q.Action != "" || q.Actor != "" || q.Target != "" || !q.Since.IsZero() || !q.Until.IsZero()
}

// Scanner is what ReadPage and Entries need of a store; every Store is one.
// A Store that also implements EntryQuerier is asked for matching entries
// directly; any other is scanned from Query.From and filtered.
type Scanner interface {
	Scan(ctx context.Context, chain string, from uint64, fn func(e *Entry) error) error
}

// EntryQuerier is an optional Store fast path for ReadPage and Entries:
// the store selects the entries itself (auditlog/pgstore uses keyset
// pagination on (chain, seq) and indexes on action and actor).
type EntryQuerier interface {
	// QueryEntries calls fn with the first limit (> 0) entries of chain that
	// match q, in Seq order, and stops early if fn returns an error (which
	// it returns). fn must not keep e. The store holds at most limit entries
	// in memory at a time.
	QueryEntries(ctx context.Context, chain string, q Query, limit int, fn func(e *Entry) error) error
}

// Page is one page of a chain.
type Page struct {
	// Entries are the selected entries, in Seq order; each owns its payload.
	Entries []Entry
	// More reports that entries after this page match the query, or, for
	// a filtered page that reached its ScanLimit, may match.
	More bool
	// Next is where the next page starts (the From of its Query): if More,
	// the first matching entry after this page, or the end of the window a
	// filtered page examined; else one past the last entry returned (or the
	// query's From if none was), so that a poller can ask again later for
	// what was appended since.
	Next uint64
}

// ReadPage returns up to limit entries of chain selected by q, in Seq order,
// and the cursor of the next page. limit 0 means DefaultPageSize; a negative
// limit, one above MaxPageSize or a contradictory query is ErrBadQuery.
// Memory and work are bounded by the page, never by the chain: a page holds
// at most limit entries and, when q filters, examines at most q.ScanLimit.
func ReadPage(ctx context.Context, s Scanner, chain string, q Query, limit int) (Page, error) {
	if limit == 0 {
		limit = DefaultPageSize
	}
	if limit < 0 || limit > MaxPageSize {
		return Page{}, fmt.Errorf("%w: page size %d is not between 1 and %d", ErrBadQuery, limit, MaxPageSize)
	}
	if err := q.Check(); err != nil {
		return Page{}, err
	}
	p := Page{Next: q.From}
	// A filtered page looks at a window of sequence numbers at most.
	window := uint64(0)
	if q.filtered() {
		n := uint64(cmp.Or(q.ScanLimit, MaxPageScan))
		if end := q.From + n; end > q.From && (q.To == 0 || end < q.To) {
			window = end
		}
	}
	wq := q
	if window != 0 {
		wq.To = window
	}
	err := query(ctx, s, chain, wq, limit+1, func(e *Entry) error {
		if len(p.Entries) == limit {
			p.More, p.Next = true, e.Seq
			return errStop
		}
		p.Entries = append(p.Entries, ownEntry(e))
		p.Next = e.Seq + 1
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return Page{}, err
	}
	if !p.More && window != 0 {
		// The window is spent; the next page starts after it if the chain
		// goes on.
		err := query(ctx, s, chain, Query{From: window, To: q.To}, 1, func(*Entry) error {
			p.More, p.Next = true, window
			return errStop
		})
		if err != nil && !errors.Is(err, errStop) {
			return Page{}, err
		}
	}
	return p, nil
}

// Entries streams every entry of chain selected by q, in Seq order, for
// exports and jobs that read a whole chain: at most one store page
// (MaxPageSize entries) is held at a time, whatever the chain's length. The
// sequence ends after the first error, which it yields. Each entry owns its
// payload.
func Entries(ctx context.Context, s Scanner, chain string, q Query) iter.Seq2[Entry, error] {
	return func(yield func(Entry, error) bool) {
		if err := q.Check(); err != nil {
			yield(Entry{}, err)
			return
		}
		stopped := false
		emit := func(e *Entry) error {
			if !yield(ownEntry(e), nil) {
				stopped = true
				return errStop
			}
			return nil
		}
		var err error
		if qs, ok := s.(EntryQuerier); ok {
			// Page by page: the store's query never outlives one page, and
			// the caller's work between entries holds no query open.
			for {
				var page []Entry
				err = qs.QueryEntries(ctx, chain, q, streamPage, func(e *Entry) error {
					page = append(page, ownEntry(e))
					return nil
				})
				if err != nil {
					break
				}
				for i := range page {
					if err = emit(&page[i]); err != nil {
						break
					}
				}
				if err != nil || len(page) < streamPage {
					break
				}
				q.From = page[len(page)-1].Seq + 1
				if q.To != 0 && q.From >= q.To {
					break
				}
			}
		} else {
			err = scanQuery(ctx, s, chain, q, 0, emit)
		}
		if err != nil && !stopped {
			yield(Entry{}, err)
		}
	}
}

// query runs q through the store's EntryQuerier if it has one.
func query(ctx context.Context, s Scanner, chain string, q Query, limit int, fn func(e *Entry) error) error {
	if qs, ok := s.(EntryQuerier); ok {
		return qs.QueryEntries(ctx, chain, q, limit, fn)
	}
	return scanQuery(ctx, s, chain, q, limit, fn)
}

// scanQuery is query for a store without EntryQuerier: a scan from q.From,
// filtered. limit 0 means no limit.
func scanQuery(ctx context.Context, s Scanner, chain string, q Query, limit int, fn func(e *Entry) error) error {
	if q.To != 0 && q.From >= q.To {
		return nil
	}
	n := 0
	err := s.Scan(ctx, chain, q.From, func(e *Entry) error {
		if q.To != 0 && e.Seq >= q.To {
			return errStop
		}
		if !q.Match(e) {
			return nil
		}
		if err := fn(e); err != nil {
			return err
		}
		n++
		if limit > 0 && n == limit {
			return errStop
		}
		return nil
	})
	if errors.Is(err, errStop) {
		return nil
	}
	return err
}

// ownEntry copies e with its own payload (nil stays nil: pruned).
func ownEntry(e *Entry) Entry {
	c := *e
	if e.Payload != nil {
		c.Payload = append(make([]byte, 0, len(e.Payload)), e.Payload...)
	}
	return c
}
