package privacy

import (
	"fmt"
	"time"
)

// Jurisdiction names the law whose deadlines a data subject request follows.
// Each has its own periods and its own extension rule; see Deadline.
type Jurisdiction string

// The jurisdictions the package counts deadlines for.
const (
	// GDPR: Regulation (EU) 2016/679, Art. 12(3): one month, extendable by
	// two further months.
	GDPR Jurisdiction = "gdpr"
	// UKGDPR: the UK GDPR, Art. 12(3), with the GDPR's periods; the ICO's
	// count (the corresponding date, or the month's last day) gives the same dates.
	UKGDPR Jurisdiction = "uk-gdpr"
	// CCPA: Cal. Civ. Code §1798.130(a)(2) as amended by the CPRA: 45
	// calendar days from the day of receipt (11 CCR §7021(b)), extendable once by 45.
	CCPA Jurisdiction = "ccpa"
)

// jurisdictions lists every jurisdiction the package knows, in a stable order.
func jurisdictions() []Jurisdiction { return []Jurisdiction{GDPR, UKGDPR, CCPA} }

// Valid reports whether j is one of GDPR, UKGDPR and CCPA.
func (j Jurisdiction) Valid() bool {
	switch j {
	case GDPR, UKGDPR, CCPA:
		return true
	}
	return false
}

// lastMicrosecond is how far before the next midnight a deadline falls: the
// last instant of the day that PostgreSQL's microsecond timestamps can hold,
// so a stored deadline reads back unchanged.
const lastMicrosecond = time.Microsecond

// Deadline returns the last instant at which a request received at received
// is answered in time under j, with or without its one extension. Days are
// calendar days in loc, the controller's time zone (nil means UTC): a
// deadline ends with the last microsecond of its day there.
//
// GDPR and UK GDPR count months as Regulation 1182/71 Art. 3(1) and 3(2)(c)
// do: the day of receipt is not counted, and the period ends with the day of
// the last month that has the same date as the day of receipt, or with the
// last day of that month when it has no such date (received 31 January, due
// 28 February, or 29 in a leap year). The extended period ends three months
// after receipt, counted the same way. CCPA counts 45 (extended: 90) calendar
// days beginning with the day of receipt, so a request received on 1 January
// is due on 14 February.
//
// Deadlines are never moved past a weekend or public holiday (which Art.
// 3(4) of Regulation 1182/71 would allow): the package reports a request as
// overdue at the earliest date the law could, never later.
func Deadline(j Jurisdiction, received time.Time, loc *time.Location, extended bool) (time.Time, error) {
	if loc == nil {
		loc = time.UTC
	}
	y, m, d := received.In(loc).Date()
	var endDay time.Time // midnight at the start of the due day, in loc
	switch j {
	case GDPR, UKGDPR:
		months := 1
		if extended {
			months = 3
		}
		endDay = addMonthsClamped(y, m, d, months, loc)
	case CCPA:
		days := 45
		if extended {
			days = 90
		}
		endDay = time.Date(y, m, d+days-1, 0, 0, 0, 0, loc)
	default:
		return time.Time{}, fmt.Errorf("%w: unknown jurisdiction %q", ErrInvalid, string(j))
	}
	ey, em, ed := endDay.Date()
	return time.Date(ey, em, ed+1, 0, 0, 0, 0, loc).Add(-lastMicrosecond), nil
}

// addMonthsClamped returns midnight of the day n months after y-m-d, or of
// the last day of that month when it has fewer days than d. time.AddDate
// would normalise 31 February to 3 March instead.
func addMonthsClamped(y int, m time.Month, d, n int, loc *time.Location) time.Time {
	first := time.Date(y, m+time.Month(n), 1, 0, 0, 0, 0, loc)
	last := first.AddDate(0, 1, -1).Day()
	return time.Date(first.Year(), first.Month(), min(d, last), 0, 0, 0, 0, loc)
}
