package mfa

import (
	"fmt"
	"io"
)

// WithRandForTest feeds Begin a chosen secret (RFC test seeds).
func WithRandForTest(r io.Reader) ManagerOption {
	return managerOpt(func(o *options) error {
		if r == nil {
			return fmt.Errorf("%w: WithRandForTest: nil random source", ErrInvalidConfig)
		}
		o.rand = r
		return nil
	})
}

// WithAlgorithmForTest makes new enrolments use a (the option WithAlgorithm
// was, before SHA-1 became the only algorithm of new enrolments), so tests
// can build the SHA-256 and SHA-512 enrolments a store may still hold.
func WithAlgorithmForTest(a Algorithm) ManagerOption {
	return managerOpt(func(o *options) error { o.alg = a; return nil })
}
