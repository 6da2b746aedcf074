package mfa

import "io"

// WithRandForTest feeds Begin a chosen secret (RFC test seeds).
func WithRandForTest(r io.Reader) ManagerOption {
	return managerOpt(func(o *options) {
		if r == nil {
			o.invalid("WithRandForTest: nil random source")
			return
		}
		o.rand = r
	})
}

// WithAlgorithmForTest makes new enrolments use a (the option WithAlgorithm
// was, before SHA-1 became the only algorithm of new enrolments), so tests
// can build the SHA-256 and SHA-512 enrolments a store may still hold.
func WithAlgorithmForTest(a Algorithm) ManagerOption {
	return managerOpt(func(o *options) { o.alg = a })
}
