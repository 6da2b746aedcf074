package pgstore

import "context"

// Internal identifiers exported for the package's external tests.

// RecordedKCV is recordedKCV.
type RecordedKCV = recordedKCV

// KeyCheckValues returns the check values recorded in the database by key
// ID (none if the table does not exist yet), read through s's querier.
func KeyCheckValues(ctx context.Context, s Store) (map[uint32]RecordedKCV, error) {
	return keyCheckValues(ctx, s.(*store).q)
}
