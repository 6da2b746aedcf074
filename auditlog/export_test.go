package auditlog

// Internal identifiers exported for the package's external tests.

// ProgressEvery is how often Verify calls VerifyOptions.Progress.
const ProgressEvery = progressEvery

// The export manifest and its text.
type (
	ExportManifest = exportManifest
	ManifestChain  = manifestChain
	SeqRange       = seqRange
)

// ParseExportManifest is parseExportManifest.
var ParseExportManifest = parseExportManifest

// The checkpoint text parser and signer, which callers reach only through
// OpenCheckpoint and Log.Checkpoint.
var (
	ParseCheckpoint = parseCheckpoint
	SignCheckpoint  = signCheckpoint
)
