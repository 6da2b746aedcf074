package mfa

import "io"

// WithRandForTest feeds Begin a chosen secret (RFC test seeds).
func WithRandForTest(r io.Reader) Option { return func(o *options) { o.rand = r } }
